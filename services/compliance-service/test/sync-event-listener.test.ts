// compliance-service listening on the bus: a sync event brings its run in without waiting for the
// poll (set to ten minutes here), and a redelivered event stores nothing twice.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import type { HubEvent } from '@hub/contracts'
import { hubEventStreamKey } from '@hub/event-bus'
import { createFastify } from '@hub/service-kit'
import { TEST_REDIS_URL, createFakeIntegrationService, createTestDatabase, deleteRedisPrefix, testRedisPrefix, testServiceEnv } from '@hub/service-kit/testing'
import complianceService from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { COMPLIANCE_SCHEMA } from '../src/db/schema.ts'
import { SYNC_EVENTS_GROUP } from '../src/plugins/app/sync-event-listener.ts'

const db = await createTestDatabase([COMPLIANCE_SCHEMA])
const prefix = testRedisPrefix()
const integration = await createFakeIntegrationService({ redisPrefix: prefix })
await integration.start()
const redis = new Redis(TEST_REDIS_URL)
const app = createFastify({ service: 'compliance-service', logLevel: process.env.TEST_LOG_LEVEL ?? 'silent' })
await app.register(complianceService, {
  config: loadConfig({ ...testServiceEnv(prefix), DATABASE_URL: db.urlFor(COMPLIANCE_SCHEMA.appRole), INTEGRATION_SERVICE_URL: integration.url, SYNC_LOG_POLL_MS: '600000', SYNC_LOG_CONSUMER: 'true' }),
})
await app.ready()
test.after(async () => {
  await app.close()
  await integration.stop()
  await redis.quit()
  await db.drop()
  await deleteRedisPrefix(prefix)
})

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

const storedRun = async (id: string) => (await db.adminQuery<{ status: string; times_seen: number }>('select status, times_seen from compliance.sync_logs where id = $1', [id]))[0]
const pending = async () => Number(((await redis.xpending(hubEventStreamKey(prefix, 'sync'), SYNC_EVENTS_GROUP)) as [number])[0])
let position = 0

function completedEvent(run: { id: string; tenantId: string; venueId: string; connectionId: string }): HubEvent {
  const now = new Date().toISOString()
  return {
    id: randomUUID(),
    type: 'integration.sync.completed',
    version: 1,
    tenantId: run.tenantId,
    venueId: run.venueId,
    connectionId: run.connectionId,
    sequence: 3,
    occurredAt: now,
    data: {
      syncLogId: run.id,
      provider: 'stripe',
      entity: 'customer',
      kind: 'pull',
      mode: 'full',
      trigger: 'manual',
      status: 'succeeded',
      counts: { fetched: 5, created: 5, updated: 0, unchanged: 0, deleted: 0, failed: 0 },
      startedAt: now,
      finishedAt: now,
      durationMs: 0,
    },
  }
}

test('a sync event pulls its run in at once, and the same event delivered again stores nothing twice', async () => {
  // The poll's first pull at start is done (and the next is ten minutes away).
  await until('the first poll', async () => (await db.adminQuery<{ at: Date | null }>('select last_success_at as at from compliance.consumer_cursors'))[0]?.at ?? undefined)
  const run = integration.recordRun({ tenantId: randomUUID(), venueId: randomUUID() })
  integration.changeRun(run.id, { status: 'succeeded', finishedAt: new Date().toISOString(), counts: { fetched: 5, created: 5 } })
  assert.equal(await storedRun(run.id), undefined, 'not pulled yet')

  const event = completedEvent(run)
  await redis.xadd(hubEventStreamKey(prefix, 'sync'), `${++position}-0`, 'event', JSON.stringify(event))
  const stored = await until('the run in compliance', async () => {
    const row = await storedRun(run.id)
    return row?.status === 'succeeded' ? row : undefined
  })
  await until('the event acknowledged', async () => (await pending()) === 0)

  // At least once: the same event again (a redelivery) finds its run stored and changes nothing.
  await redis.xadd(hubEventStreamKey(prefix, 'sync'), `${++position}-0`, 'event', JSON.stringify(event))
  await until('the redelivery acknowledged', async () => {
    const groups = (await redis.xinfo('GROUPS', hubEventStreamKey(prefix, 'sync'))) as unknown[][]
    const group = groups.find((entry) => entry[1] === SYNC_EVENTS_GROUP) ?? []
    return group[group.indexOf('last-delivered-id') + 1] === `${position}-0` && (await pending()) === 0
  })
  assert.deepEqual(await storedRun(run.id), stored)
})
