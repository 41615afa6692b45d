// Each connection's scheduled work at its own moment of the period. Bull starts an interval on a
// multiple of it since the epoch, so every connection syncing "hourly" would start at hh:00:00
// together: one burst on the workers, on Postgres and on each provider's rate limit, then an idle
// hour. A cron whose second and minute (and hour, for daily) come from a hash of the connection id
// spreads the connections evenly over the period, is the same in every process and after every
// restart (so the reconciler can tell whether Redis holds the right schedule), and keeps a
// connection's cadence exact. Crons are read in UTC unless a time zone is given with them.
import { createHash } from 'node:crypto'

export const CADENCES = { every_15_minutes: 15 * 60, hourly: 60 * 60, daily: 24 * 60 * 60 } as const
export type Cadence = keyof typeof CADENCES

/** A stable offset in [0, periodSeconds) for the key, near uniform over keys. */
export function stableOffset(key: string, periodSeconds: number): number {
  // 48 bits of SHA-256: the modulo bias over a period of a day is below 1e-9.
  return createHash('sha256').update(key).digest().readUIntBE(0, 6) % periodSeconds
}

/** Seconds into its cadence at which the key's work starts. */
export const spreadOffset = (key: string, cadence: Cadence): number => stableOffset(`${key}:${cadence}`, CADENCES[cadence])

/** Seconds into the hour at which the key's daily work starts, whichever hour is chosen. */
export const offsetInHour = (key: string): number => stableOffset(`${key}:hour`, 3600)

/** A six-field cron (second first) firing once per cadence, at the key's own offset in it. */
export function spreadCron(key: string, cadence: Cadence): string {
  const offset = spreadOffset(key, cadence)
  const second = offset % 60
  const minute = Math.floor(offset / 60) % 60
  if (cadence === 'every_15_minutes') return `${second} ${minute}-59/15 * * * *`
  if (cadence === 'hourly') return `${second} ${minute} * * * *`
  return `${second} ${minute} ${Math.floor(offset / 3600)} * * *`
}

/** A six-field cron firing once a day in the given hour, at the key's own minute and second of it. */
export function spreadDailyCronAtHour(key: string, hour: number): string {
  const offset = offsetInHour(key)
  return `${offset % 60} ${Math.floor(offset / 60)} ${hour} * * *`
}
