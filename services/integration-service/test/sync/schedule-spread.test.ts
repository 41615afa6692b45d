import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { CADENCES, spreadCron, spreadDailyCronAtHour, stableOffset } from '../../src/plugins/app/sync/schedule-spread.ts'

// Deterministic connection-like ids, so the spread is measured on the same keys every run.
const ids = Array.from({ length: 3_000 }, (_, i) => {
  const hex = createHash('sha1').update(`connection-${i}`).digest('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`
})

/** Seconds into the cadence at which the cron fires. */
function offsetOf(cron: string): number {
  const [second, minute, hour] = cron.split(' ')
  return Number(second) + Number.parseInt(minute as string, 10) * 60 + (hour === '*' ? 0 : Number(hour)) * 3600
}

test('a connection keeps its moment; the moments of many connections spread evenly over the period', () => {
  for (const cadence of Object.keys(CADENCES) as Array<keyof typeof CADENCES>) {
    const period = CADENCES[cadence]
    assert.equal(spreadCron(ids[0] as string, cadence), spreadCron(ids[0] as string, cadence), 'stable')
    const offsets = ids.map((id) => offsetOf(spreadCron(id, cadence)))
    for (const offset of offsets) assert.ok(offset >= 0 && offset < period, `${cadence}: ${offset} within the period`)
    // Ten buckets over the period: each would hold 300 if perfectly even; a binomial bucket
    // (sd ~16) stays within ±25 % by over 4.5 standard deviations.
    const buckets = new Array<number>(10).fill(0)
    for (const offset of offsets) buckets[Math.floor((offset / period) * 10)]! += 1
    for (const count of buckets) assert.ok(count > 225 && count < 375, `${cadence}: buckets ${buckets.join(',')}`)
    // No second is shared by more connections than a uniform draw would put there: 3,000 over
    // 900, 3,600 and 86,400 seconds average 3.3, 0.8 and 0.03, and the busiest second of such a
    // draw holds about 9, 5 and 3 (these ids: 9, 5, 3).
    const perSecond = new Map<number, number>()
    for (const offset of offsets) perSecond.set(offset, (perSecond.get(offset) ?? 0) + 1)
    const busiest = Math.max(...perSecond.values())
    assert.ok(busiest <= { every_15_minutes: 12, hourly: 7, daily: 4 }[cadence], `${cadence}: ${busiest} connections in the busiest second`)
  }
  // Before: Bull's `every` put all of them at second 0 of the period.
  assert.ok(new Set(ids.map((id) => spreadCron(id, 'hourly'))).size > 1_500)
})

test('the crons have the shape each cadence needs', () => {
  for (const id of ids.slice(0, 200)) {
    assert.match(spreadCron(id, 'every_15_minutes'), /^([0-5]?\d) (1[0-4]|\d)-59\/15 \* \* \* \*$/)
    assert.match(spreadCron(id, 'hourly'), /^([0-5]?\d) ([0-5]?\d) \* \* \* \*$/)
    assert.match(spreadCron(id, 'daily'), /^([0-5]?\d) ([0-5]?\d) (1\d|2[0-3]|\d) \* \* \*$/)
    const at5 = spreadDailyCronAtHour(id, 5)
    assert.match(at5, /^([0-5]?\d) ([0-5]?\d) 5 \* \* \*$/)
    const at17 = spreadDailyCronAtHour(id, 17).split(' ')
    assert.equal(at17[2], '17')
    assert.deepEqual([at17[0], at17[1]], at5.split(' ').slice(0, 2), 'the hour changes, not the minute')
  }
  assert.notEqual(stableOffset('a', 3600), stableOffset('b', 3600))
})
