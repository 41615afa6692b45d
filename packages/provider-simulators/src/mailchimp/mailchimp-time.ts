// Mailchimp prints every timestamp at one-second resolution with an explicit `+00:00` offset
// (`2015-09-16T19:24:29+00:00`), and filters such as `since_last_changed` work on that same
// resolution. The simulator keeps its own clock so tests can move time forward instead of sleeping.

export class SimClock {
  #offsetMs = 0

  now(): number {
    return Date.now() + this.#offsetMs
  }

  /** Moves simulated time forward; it never goes back, so timestamps stay monotonic. */
  advance(seconds: number): number {
    if (Number.isFinite(seconds) && seconds > 0) this.#offsetMs += Math.round(seconds * 1000)
    return this.now()
  }
}

export function floorToSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000
}

/** `2015-09-16T19:24:29+00:00`, as Mailchimp writes it. */
export function mailchimpTimestamp(ms: number): string {
  return new Date(floorToSecond(ms)).toISOString().replace(/\.\d{3}Z$/, '+00:00')
}

/** `2009-03-26 21:35:57`: the `fired_at` format of list webhooks (UTC). */
export function webhookFiredAt(ms: number): string {
  return new Date(floorToSecond(ms))
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, '')
}

/** Parses an ISO 8601 query value; undefined when absent, NaN when present but unreadable. */
export function parseIsoParam(value: unknown): number | undefined {
  if (value === undefined || value === '') return undefined
  if (typeof value !== 'string') return Number.NaN
  return Date.parse(value)
}
