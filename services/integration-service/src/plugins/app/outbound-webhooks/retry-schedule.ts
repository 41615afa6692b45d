// The waits before each attempt of a message. Attempt k (from 0) runs schedule[k] after attempt
// k-1 failed (the first entry is the wait after the event: 0, immediately); after the last one the
// message is failed and only a replay sends it again.
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const

export function parseRetrySchedule(text: string): number[] {
  const waits = text.split(',').map((part) => {
    const match = /^\s*(\d+)(ms|s|m|h)\s*$/.exec(part)
    if (!match) throw new Error(`not a duration: "${part.trim()}"`)
    return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]
  })
  if (waits.length === 0) throw new Error('the retry schedule is empty')
  return waits
}
