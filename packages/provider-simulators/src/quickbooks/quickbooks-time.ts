// QuickBooks stamps entities in the company's local time with an explicit offset and only to
// the second ("2015-07-24T10:33:39-07:00"); clients that assume UTC or millisecond precision
// lose changes, so the simulator reproduces both traits. Companies here live in Pacific time.
const PACIFIC = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/Los_Angeles',
  hourCycle: 'h23',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  timeZoneName: 'longOffset',
})

export const DAY_MS = 86_400_000

export function floorToSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000
}

/** `2024-01-05T10:33:39-08:00`, or with `.123` milliseconds for the response `time` field. */
export function formatIntuitTime(ms: number, withMillis = false): string {
  const parts: Record<string, string> = {}
  for (const part of PACIFIC.formatToParts(new Date(ms))) parts[part.type] = part.value
  const offset = (parts.timeZoneName ?? 'GMT').replace('GMT', '') || '+00:00'
  const millis = withMillis ? `.${String(((ms % 1000) + 1000) % 1000).padStart(3, '0')}` : ''
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}${millis}${offset}`
}

/** Transaction dates (TxnDate, DueDate) are plain company-local dates. */
export function formatIntuitDate(ms: number): string {
  return formatIntuitTime(ms).slice(0, 10)
}

/** Parses the date-time literals QuickBooks accepts in queries and CDC; NaN when invalid. */
export function parseIntuitTime(value: string): number {
  const trimmed = value.trim()
  // A bare date means midnight in the company's time zone, not UTC.
  if (/^\d{4}-\d{2}-\d{2}$/.test(trimmed)) {
    const utcMidnight = Date.parse(`${trimmed}T00:00:00Z`)
    if (Number.isNaN(utcMidnight)) return Number.NaN
    const offset = formatIntuitTime(utcMidnight).slice(19)
    return Date.parse(`${trimmed}T00:00:00${offset}`)
  }
  const match = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(trimmed)
  if (!match) return Number.NaN
  if (match[3]) return Date.parse(trimmed.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'))
  // No offset: company-local time as well.
  const asUtc = Date.parse(`${trimmed}Z`)
  if (Number.isNaN(asUtc)) return Number.NaN
  return Date.parse(`${trimmed}${formatIntuitTime(asUtc).slice(19)}`)
}
