// The hub's events on the way out: written with their change, numbered per connection by the relay
// without gaps (no writer waits for another to number its event), relayed to one Redis stream per family once each and in order, through a relay killed
// between XADD and the mark, and refilled from Postgres when Redis loses the streams.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { HUB_EVENT_FAMILIES, hubEventProblem, type HubEvent } from '@hub/contracts'
import { hubEventStreamKey } from '@hub/event-bus'
import type { ServiceInstance } from '@hub/service-kit'
import { TEST_REDIS_URL } from '@hub/service-kit/testing'
import { INTEGRATION_SCHEMA } from '../../src/db/schema.ts'
import { publishEvent } from '../../src/plugins/app/events/event-outbox-repository.ts'
import { createEventRelay } from '../../src/plugins/app/events/event-relay.ts'
import { ROOT, setupSyncRig } from '../sync/sync-rig.ts'

const rig = await setupSyncRig({ sims: { stripe: { recordsPerEntity: 30 } } })
const redis = new Redis(TEST_REDIS_URL)
test.after(() => redis.quit())

interface StreamEntry {
  entryId: string
  event: HubEvent
}

/** Everything on the family streams of `prefix`, stream order kept per stream. */
async function streamed(prefix: string): Promise<StreamEntry[]> {
  const entries: StreamEntry[] = []
  for (const family of HUB_EVENT_FAMILIES) {
    const rows = (await redis.xrange(hubEventStreamKey(prefix, family), '-', '+')) as Array<[string, string[]]>
    for (const [entryId, fields] of rows) entries.push({ entryId, event: JSON.parse(String(fields[1])) as HubEvent })
  }
  return entries
}

const entryOrder = (a: StreamEntry, b: StreamEntry) => Number(BigInt(a.entryId.split('-')[0] as string) - BigInt(b.entryId.split('-')[0] as string))

/** Per connection (or venue), the sequences in the order the streams hold them; all streams merged by position. */
function sequencesByScope(entries: StreamEntry[]): Map<string, number[]> {
  const byScope = new Map<string, number[]>()
  for (const { event } of [...entries].sort(entryOrder)) {
    const scope = event.connectionId ?? event.venueId
    byScope.set(scope, [...(byScope.get(scope) ?? []), event.sequence])
  }
  return byScope
}

const oneToN = (n: number) => Array.from({ length: n }, (_, i) => i + 1)

async function stripeConnection(app: ServiceInstance) {
  const tenantId = randomUUID()
  const account = await rig.account('stripe')
  const connection = await rig.connect(app, { tenantId, provider: 'stripe', ...account })
  return { tenantId, connection }
}

async function syncCustomers(app: ServiceInstance, c: Awaited<ReturnType<typeof stripeConnection>>) {
  const { jobs } = await app.syncEngine.enqueueSync({ tenantId: c.tenantId, venueId: c.connection.venueId, connectionId: c.connection.id, entities: ['customer'], mode: 'full', trigger: 'manual', queue: 'high' })
  const job = jobs[0] as { syncLogId: string }
  const log = await rig.waitForLog(job.syncLogId)
  assert.equal(log.status, 'succeeded')
  return job.syncLogId
}

const outbox = (app: ServiceInstance, scopeId: string) => app.db.withSystemScope((trx) => app.eventOutbox.listForScope(trx, scopeId))
const unnumbered = (app: ServiceInstance, scopeId: string) => app.db.withSystemScope((trx) => app.eventOutbox.unnumberedForScope(trx, scopeId))
/** A connection's events once the relay has numbered (and relayed) everything written so far. */
async function numbered(app: ServiceInstance, scopeId: string): Promise<HubEvent[]> {
  await app.eventRelay.flush()
  return outbox(app, scopeId)
}

test('a sync writes its events with the change: started, the records it changed (ids only), completed; numbered 1, 2, 3… per connection', async () => {
  const app = await rig.build({ EVENT_RELAY_INTERVAL_MS: '0' }, { worker: true })
  const c = await stripeConnection(app)
  const syncLogId = await syncCustomers(app, c)
  const events = await numbered(app, c.connection.id)
  assert.deepEqual(
    events.map((event) => event.type),
    ['integration.connection.status_changed', 'integration.sync.started', 'integration.records.changed', 'integration.sync.completed'],
  )
  assert.deepEqual(
    events.map((event) => event.sequence),
    [1, 2, 3, 4],
  )
  for (const event of events) assert.equal(hubEventProblem(event), null, event.type)
  const [status, started, changed, completed] = events as [HubEvent, HubEvent, HubEvent, HubEvent]
  assert.deepEqual(status.data, { provider: 'stripe', previousStatus: 'pending', status: 'active', reason: null })
  assert.equal(started.data.syncLogId, syncLogId)
  assert.equal((changed.data.created as string[]).length, 30)
  assert.deepEqual((changed.data.created as string[]).sort(), await rig.liveIds(c.connection.id, 'customer'))
  assert.ok(!JSON.stringify(changed.data).includes('@'), 'no e-mail addresses, no record content')
  assert.deepEqual(completed.data.counts, { fetched: 30, created: 30, updated: 0, unchanged: 0, deleted: 0, failed: 0 })
  assert.equal(completed.data.status, 'succeeded')
  assert.equal(typeof completed.data.durationMs, 'number')

  // A second run over the same provider data changed nothing: no records.changed.
  await syncCustomers(app, c)
  const after = await numbered(app, c.connection.id)
  assert.deepEqual(
    after.slice(4).map((event) => [event.type, event.sequence]),
    [
      ['integration.sync.started', 5],
      ['integration.sync.completed', 6],
    ],
  )
})

test("a change that rolls back takes its event and its number with it; the connection's next event follows without a gap", async () => {
  const app = await rig.build({ EVENT_RELAY_INTERVAL_MS: '0' })
  const c = await stripeConnection(app)
  await assert.rejects(
    app.db.withTenant(c.tenantId, async (trx) => {
      await app.connections.update(trx, c.connection.id, { status: 'needs_reauth', statusReason: 'The provider refused the credentials.' })
      throw new Error('the rest of the change failed')
    }),
  )
  await app.db.withTenant(c.tenantId, (trx) => app.connections.update(trx, c.connection.id, { status: 'needs_reauth', statusReason: 'The provider refused the credentials.' }))
  // The same status again is no change: no event.
  await app.db.withTenant(c.tenantId, (trx) => app.connections.update(trx, c.connection.id, { status: 'needs_reauth' }))
  const events = await numbered(app, c.connection.id)
  assert.deepEqual(
    events.map((event) => [event.sequence, event.type, event.data.status]),
    [
      [1, 'integration.connection.status_changed', 'active'],
      [2, 'integration.connection.status_changed', 'needs_reauth'],
    ],
  )
  // RLS: another tenant's transaction sees none of them.
  const foreign = await app.db.withTenant(randomUUID(), (trx) => app.eventOutbox.listForScope(trx, c.connection.id))
  assert.deepEqual(foreign, [])
})

test('a change does not wait for another open change of the same connection, nor does the relay: events are numbered as their changes commit', async () => {
  const app = await rig.build({ EVENT_RELAY_INTERVAL_MS: '0' })
  const c = await stripeConnection(app)
  const received = (externalId: string) => ({
    type: 'integration.webhook.received' as const,
    tenantId: c.tenantId,
    venueId: c.connection.venueId,
    connectionId: c.connection.id,
    data: { inboxId: randomUUID(), provider: 'stripe' as const, eventType: 'customer.updated', entity: 'customer' as const, externalId },
  })
  let release!: () => void
  const held = new Promise<void>((resolve) => (release = resolve))
  let written!: () => void
  const first = new Promise<void>((resolve) => (written = resolve))
  // The first change writes its event and stays open.
  const slow = app.db.withTenant(c.tenantId, async (trx) => {
    await publishEvent(trx, received('cus_first_written'))
    written()
    await held
  })
  await first
  // The second writes and commits meanwhile; a lock on the connection would fail it after 2 s instead of hanging the test.
  await app.db.withTenant(c.tenantId, async (trx) => {
    await trx.raw("set local lock_timeout = '2s'")
    await publishEvent(trx, received('cus_first_committed'))
  })
  const label = (events: HubEvent[]) => events.map((event) => [event.sequence, event.type === 'integration.webhook.received' ? event.data.externalId : event.type])
  // The relay does not wait for the open change either: what has committed is numbered now.
  assert.deepEqual(label(await numbered(app, c.connection.id)), [
    [1, 'integration.connection.status_changed'],
    [2, 'cus_first_committed'],
  ])
  release()
  await slow
  assert.deepEqual(label(await numbered(app, c.connection.id)), [
    [1, 'integration.connection.status_changed'],
    [2, 'cus_first_committed'],
    [3, 'cus_first_written'],
  ])
})

test('the relay puts every event on its family stream once, in sequence order per connection, even when killed between XADD and the mark; a lost Redis is refilled from Postgres', async () => {
  const prefix = `${rig.prefix}relay:`
  const app = await rig.build({ EVENT_RELAY_INTERVAL_MS: '0', REDIS_KEY_PREFIX: prefix }, { worker: true })
  const a = await stripeConnection(app)
  const b = await stripeConnection(app)
  await Promise.all([syncCustomers(app, a), syncCustomers(app, b)])
  // Concurrent writers on one connection: none waits for another (the relay numbers them later).
  await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      app.db.withTenant(a.tenantId, (trx) =>
        publishEvent(trx, {
          type: 'integration.webhook.received',
          tenantId: a.tenantId,
          venueId: a.connection.venueId,
          connectionId: a.connection.id,
          data: { inboxId: randomUUID(), provider: 'stripe', eventType: `customer.updated.${i}`, entity: 'customer', externalId: `cus_${i}` },
        }),
      ),
    ),
  )
  assert.equal((await unnumbered(app, b.connection.id)).length, 4)
  assert.equal((await unnumbered(app, a.connection.id)).length, 14)
  assert.deepEqual(await outbox(app, a.connection.id), [], 'nothing numbered before the relay ran')
  // Every event of this database so far (earlier tests' too, relayed under another prefix: a relay
  // under this one finds no epoch of its own and sends them all again).
  const expected = await rig.db.adminQuery<{ id: string }>('select event_id as id from integration.event_outbox')

  // A real relay process, killed (SIGKILL) after its first batch of 5 reached Redis, before the mark.
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'relay-crash-child.ts')], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: rig.db.urlFor(INTEGRATION_SCHEMA.appRole), REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix, RELAY_BATCH: '5' },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, killed) => resolve(killed)))
  assert.equal(signal, 'SIGKILL', 'the relay died mid-batch')
  assert.equal((await streamed(prefix)).length, 5, 'the first batch reached Redis')
  const [unmarked] = await rig.db.adminQuery<{ count: number }>('select count(*)::int as count from integration.event_outbox where relayed_at is null')
  assert.equal(unmarked?.count, expected.length, 'and none was marked relayed')

  // The service's relay takes over: Redis refuses the five it already has, the rest go out.
  await app.eventRelay.flush()
  const entries = await streamed(prefix)
  assert.equal(entries.length, expected.length, 'each event once')
  assert.deepEqual(entries.map((entry) => entry.event.id).sort(), expected.map((event) => event.id).sort())
  assert.deepEqual(sequencesByScope(entries).get(a.connection.id), oneToN(14))
  assert.deepEqual(sequencesByScope(entries).get(b.connection.id), oneToN(4))
  for (const [scope, sequences] of sequencesByScope(entries)) assert.deepEqual(sequences, oneToN(sequences.length), scope)
  for (const family of HUB_EVENT_FAMILIES) {
    const ids = entries.filter((entry) => entry.entryId && (entry.event.type.split('.')[1] as string) === family).map((entry) => entry.entryId)
    assert.deepEqual(
      ids,
      [...ids].sort((x, y) => Number(BigInt(x.split('-')[0] as string) - BigInt(y.split('-')[0] as string))),
      `${family} stream in position order`,
    )
  }
  const [marked] = await rig.db.adminQuery<{ count: number }>('select count(*)::int as count from integration.event_outbox where relayed_at is null')
  assert.equal(marked?.count, 0)
  assert.equal(await app.eventRelay.flush(), 0, 'nothing left to relay')
  assert.equal((await streamed(prefix)).length, expected.length)

  // Redis loses everything of ours (streams and the relay's epoch): Postgres refills it, in order.
  await redis.del(...HUB_EVENT_FAMILIES.map((family) => hubEventStreamKey(prefix, family)), `${prefix}events:epoch`)
  await app.eventRelay.flush()
  const refilled = await streamed(prefix)
  assert.equal(refilled.length, expected.length)
  assert.deepEqual(sequencesByScope(refilled).get(a.connection.id), oneToN(14))
  assert.deepEqual(sequencesByScope(refilled).get(b.connection.id), oneToN(4))
})

test('the catalogue is served without a token as one JSON Schema document', async () => {
  const app = await rig.build({ EVENT_RELAY_INTERVAL_MS: '0' })
  // Under-pressure answers 503 until it has sampled the event loop once.
  let response = await app.inject({ url: '/api/v1/integrations/events/catalogue' })
  for (const deadline = Date.now() + 30_000; response.statusCode === 503 && Date.now() < deadline;) {
    await sleep(100)
    response = await app.inject({ url: '/api/v1/integrations/events/catalogue' })
  }
  assert.equal(response.statusCode, 200, response.body)
  const document = response.json()
  assert.equal(document.$schema, 'https://json-schema.org/draft/2020-12/schema')
  assert.ok(document.$defs['integration.sync.completed.v1'])
  assert.ok(document.$defs.envelope)
  assert.equal(document['x-events']['integration.records.changed'].family, 'records')
})

test('relayed rows past retention are removed; rows not yet relayed stay whatever their age', async () => {
  const app = await rig.build({ EVENT_RELAY_INTERVAL_MS: '0', REDIS_KEY_PREFIX: `${rig.prefix}prune:` })
  const c = await stripeConnection(app)
  await app.db.withTenant(c.tenantId, (trx) => app.connections.update(trx, c.connection.id, { status: 'needs_reauth' }))
  const [relayed, kept] = (await numbered(app, c.connection.id)).map((event) => event.id) as [string, string]
  // One relayed row and one unrelayed row, both two days old.
  await rig.db.adminQuery(`update integration.event_outbox set relayed_at = now() - interval '2 days', occurred_at = now() - interval '2 days' where event_id = $1`, [relayed])
  await rig.db.adminQuery(`update integration.event_outbox set relayed_at = null, occurred_at = now() - interval '2 days' where event_id = $1`, [kept])
  const relay = createEventRelay({ db: app.db, redis: app.redis, prefix: `${rig.prefix}prune:`, outbox: app.eventOutbox, maxLen: 1_000, retentionMs: 24 * 3_600_000 })
  await relay.prune()
  const left = (await outbox(app, c.connection.id)).map((event) => event.id)
  assert.deepEqual(left, [kept], 'the relayed row past retention is gone; an unrelayed row is never removed')
})
