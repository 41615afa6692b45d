// What the tests of security-event delivery share, in the reporting services and in
// compliance-service: a fake compliance-service on the file's Redis prefix (stopped when the file
// ends), what it stored from one reporter, and a poll for the moment delivery has caught up (relays
// tick on their own clock, so a test waits for the outcome and never sleeps a fixed time).
import assert from 'node:assert/strict'
import { after } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { SecurityEventInput } from '@hub/contracts'
import { createFakeComplianceService, type FakeComplianceService } from './fakes/fake-compliance-service.ts'

/** Reads every 100 ms until `done` holds; fails naming `what` and the last value after `timeoutMs`. */
export async function eventually<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let value = await read()
  while (!done(value)) {
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(value)} after ${timeoutMs} ms`)
    await sleep(100)
    value = await read()
  }
  return value
}

/** The refusals a set of events stands for: a folded event counts `count` of them. */
export const totalCount = (rows: ReadonlyArray<{ count?: number | null }>): number => rows.reduce((sum, row) => sum + (row.count ?? 1), 0)

export interface SecurityEventDelivery {
  /** Down until the test calls `start()`, so a test can prove what happens during an outage. */
  compliance: FakeComplianceService
  /** The events compliance-service keeps from this reporter with this code. */
  stored(code: string): SecurityEventInput[]
}

export async function setupSecurityEventDelivery(options: { source: string; redisPrefix: string }): Promise<SecurityEventDelivery> {
  const compliance = await createFakeComplianceService({ redisPrefix: options.redisPrefix })
  after(() => compliance.stop())
  return {
    compliance,
    stored: (code) => [...compliance.securityEvents.values()].filter((event) => event.source === options.source && event.code === code),
  }
}
