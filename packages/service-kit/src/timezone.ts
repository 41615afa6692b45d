// Venue time zones: what every service accepts as one, so a zone venue-service takes is one the
// reconciliation schedules (Bull's cron `tz`, through luxon and Intl) take too.

// The shape of an IANA zone name (letters, digits, `_`, `-`, `+`, segments joined by `/`), which
// keeps offsets, paths and padded names out whatever the runtime's parser would tolerate.
const TIMEZONE_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/

/**
 * A zone the runtime can format. Not `Intl.supportedValuesOf('timeZone')`: on Node 20 that lists
 * only CLDR's canonical names, which are the legacy ones (Asia/Calcutta, Europe/Kiev), so current
 * IANA names such as Asia/Kolkata, Europe/Kyiv or Etc/GMT+5 were refused. Everything that reads a
 * venue's zone goes through Intl too (luxon, so Bull's cron `tz`); no SQL uses it. A name is kept
 * as given rather than as `resolvedOptions().timeZone`, which would turn Asia/Kolkata into
 * Asia/Calcutta, and into something else again on another ICU version (Intl, luxon and Postgres
 * all match zone names without regard to case).
 */
export function isTimezone(name: string): boolean {
  if (name.length > 64 || !TIMEZONE_NAME.test(name)) return false
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name }).format(0)
    return true
  } catch {
    return false
  }
}
