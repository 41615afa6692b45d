// The worker's retention clean-up: what it purges, what a hold keeps, what happens when
// compliance-service cannot answer, and the job on the low queue.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { RETENTION_DEFAULT_DAYS, type RetentionPeriods, type RetentionPlan, type TenantRetentionPlan } from '@hub/contracts'
import { generateKeyRingJson } from '@hub/crypto'
import { scrapeMetrics, setupServiceTests, type TestDatabase } from '@hub/service-kit/testing'
import { SERVICE_NAME } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { INTEGRATION_SCHEMA } from '../../src/db/schema.ts'
import integrationWorker from '../../src/worker-app.ts'
import { startRetentionProcessing, RETENTION_JOB } from '../../src/plugins/app/retention/index.ts'
import { startSyncProcessing } from '../../src/plugins/app/sync/index.ts'

const DAY = 86_400_000

/** What compliance-service would answer; tests set the tenants' periods and holds. */
const plans = new Map<string, Partial<TenantRetentionPlan>>()
let complianceDown = false
const plan = async (tenantIds: string[]): Promise<RetentionPlan> => {
  if (complianceDown) throw new Error('connect ECONNREFUSED')
  return {
    generatedAt: new Date().toISOString(),
    data: tenantIds.filter((tenantId) => plans.has(tenantId)).map((tenantId) => ({ tenantId, policyVersion: 1, periods: { ...RETENTION_DEFAULT_DAYS }, tenantHeld: false, heldVenueIds: [], heldConnectionIds: [], ...plans.get(tenantId) })),
  }
}

const tests = await setupServiceTests({
  service: SERVICE_NAME,
  schemas: [INTEGRATION_SCHEMA],
  env: (db) => ({
    DATABASE_URL: db.urlFor(INTEGRATION_SCHEMA.appRole),
    ENCRYPTION_KEYS: generateKeyRingJson([1]),
    COMPLIANCE_SERVICE_URL: 'http://127.0.0.1:9',
    VENUE_SERVICE_URL: 'http://127.0.0.1:9',
    RETENTION_BATCH_SIZE: '4',
    RETENTION_BATCH_PAUSE_MS: '0',
  }),
  register: (app, env) => app.register(integrationWorker, { config: loadConfig(env), retentionPlan: plan }),
})
const worker = await tests.build()
const db: TestDatabase = tests.db

async function connection(tenantId: string, venueId: string, disconnectedDaysAgo: number | null): Promise<string> {
  const id = randomUUID()
  await db.adminQuery(
    `insert into integration.connections (id, tenant_id, venue_id, provider, auth_type, status, created_by, disconnected_at)
     values ($1, $2, $3, 'stripe', 'api_key', $4, 'test', $5)`,
    [id, tenantId, venueId, disconnectedDaysAgo === null ? 'active' : 'disconnected', disconnectedDaysAgo === null ? null : new Date(Date.now() - disconnectedDaysAgo * DAY).toISOString()],
  )
  return id
}

async function records(tenantId: string, venueId: string, connectionId: string, count: number): Promise<void> {
  await db.adminQuery(
    `insert into integration.records (connection_id, entity, external_id, tenant_id, venue_id, provider, data, raw, content_hash)
     select $1, 'customer', 'cus_' || g, $2, $3, 'stripe', '{}'::jsonb, '{}'::jsonb, 'h' from generate_series(1, $4::int) g`,
    [connectionId, tenantId, venueId, count],
  )
}

async function payload(tenantId: string, connectionId: string, ageDays: number): Promise<string> {
  const id = randomUUID()
  await db.adminQuery(
    `insert into integration.webhook_inbox (id, tenant_id, connection_id, provider, event_id, event_type, payload, received_at, processed_at)
     values ($1, $2, $3, 'stripe', $4, 'customer.updated', '{"email":"someone@example.com"}'::jsonb, $5, $6)`,
    [id, tenantId, connectionId, `evt_${id}`, new Date(Date.now() - ageDays * DAY).toISOString(), new Date(Date.now() - ageDays * DAY).toISOString()],
  )
  return id
}

async function syncLog(tenantId: string, venueId: string, connectionId: string, ageDays: number, status = 'succeeded'): Promise<string> {
  const id = randomUUID()
  await db.adminQuery(
    `insert into integration.sync_logs (id, tenant_id, venue_id, connection_id, provider, entity, mode, trigger, queue, status, created_at, updated_at)
     values ($1, $2, $3, $4, 'stripe', 'customer', 'full', 'manual', 'integration-normal', $5, $6, $7)`,
    [id, tenantId, venueId, connectionId, status, new Date(Date.now() - ageDays * DAY).toISOString(), new Date(Date.now() - ageDays * DAY).toISOString()],
  )
  return id
}

const countRecords = async (connectionId: string) => Number((await db.adminQuery<{ n: string }>('select count(*) as n from integration.records where connection_id = $1', [connectionId]))[0]?.n)
const idsOf = async (table: string, tenantId: string) => (await db.adminQuery<{ id: string }>(`select id from integration.${table} where tenant_id = $1`, [tenantId])).map((row) => row.id).sort()
const outbox = async (tenantId: string) => db.adminQuery<{ action: string; after: Record<string, number> }>(`select action, after from integration.audit_outbox where tenant_id = $1 and entity_type = 'retention_run'`, [tenantId])

interface Seeded {
  tenant: string
  expiredConnection: string
  recentConnection: string
  liveConnection: string
  keptPayloads: string[]
  keptLogs: string[]
}

/** Rows on both sides of every boundary: periods of 10 days (records, payloads) and 30 (sync logs). */
async function seed(periods: Partial<RetentionPeriods> = { disconnectedRecords: 10, webhookPayloads: 10, syncLogs: 30 }): Promise<Seeded> {
  const tenant = randomUUID()
  const venue = randomUUID()
  const expiredConnection = await connection(tenant, venue, 11)
  const recentConnection = await connection(tenant, venue, 9)
  const liveConnection = await connection(tenant, randomUUID(), null)
  await records(tenant, venue, expiredConnection, 9)
  await records(tenant, venue, recentConnection, 3)
  await records(tenant, venue, liveConnection, 3)
  for (let i = 0; i < 5; i++) await payload(tenant, liveConnection, 11 + i)
  const keptPayloads = [await payload(tenant, liveConnection, 9)]
  for (let i = 0; i < 6; i++) await syncLog(tenant, venue, liveConnection, 31 + i)
  const keptLogs = [await syncLog(tenant, venue, liveConnection, 29), await syncLog(tenant, venue, liveConnection, 60, 'running')]
  plans.set(tenant, { periods: { ...RETENTION_DEFAULT_DAYS, ...periods } })
  return { tenant, expiredConnection, recentConnection, liveConnection, keptPayloads, keptLogs }
}

test('purges exactly the records, payloads and sync logs past their periods, audits the run once, and a second run changes nothing', async () => {
  const s = await seed()
  const first = await worker.retention.run()
  assert.deepEqual([await countRecords(s.expiredConnection), await countRecords(s.recentConnection), await countRecords(s.liveConnection)], [0, 3, 3], 'only records of connections disconnected longer than the period')
  assert.deepEqual(await idsOf('webhook_inbox', s.tenant), s.keptPayloads)
  assert.deepEqual(await idsOf('sync_logs', s.tenant), [...s.keptLogs].sort(), 'a running sync log stays however old')
  assert.ok(first.purged.records >= 9 && first.purged.webhookPayloads >= 5 && first.purged.syncLogs >= 6)
  assert.deepEqual(
    (await outbox(s.tenant)).map((row) => [row.action, row.after.records, row.after.webhookPayloads, row.after.syncLogs]),
    [['retention.purged', 9, 5, 6]],
  )
  const metrics = await scrapeMetrics(worker)
  assert.match(metrics, /integration_retention_purged_total\{[^}]*kind="records"[^}]*\} [1-9]/)
  assert.match(metrics, /integration_retention_last_run_timestamp_seconds\{[^}]*\} [1-9]/)

  await worker.retention.run()
  assert.deepEqual([await countRecords(s.recentConnection), await countRecords(s.liveConnection)], [3, 3])
  assert.deepEqual(await idsOf('webhook_inbox', s.tenant), s.keptPayloads)
  assert.equal((await outbox(s.tenant)).length, 1, 'a run that purges nothing records nothing')
})

test('OAuth states go a day after they expired, used or not, whatever the tenant (nothing of a tenant is held by them)', async () => {
  const state = async (tenantId: string, expiredHoursAgo: number, used: boolean): Promise<string> => {
    const id = randomUUID()
    await db.adminQuery(
      `insert into integration.oauth_states (id, state_hash, tenant_id, venue_id, user_id, provider, code_verifier, redirect_uri, expires_at, used_at)
       values ($1, $2, $3, $4, 'u1', 'square', 'sealed-verifier', 'http://127.0.0.1/callback', $5, $6)`,
      [id, `hash-${id}`, tenantId, randomUUID(), new Date(Date.now() - expiredHoursAgo * 3_600_000).toISOString(), used ? new Date(Date.now() - (expiredHoursAgo + 1) * 3_600_000).toISOString() : null],
    )
    return id
  }
  // A tenant compliance-service has no answer for (so none of its tenant data goes), and one it holds.
  const unknown = randomUUID()
  const held = randomUUID()
  plans.set(held, { tenantHeld: true })
  const gone = [await state(unknown, 25, false), await state(held, 48, true), await state(held, 30 * 24, false), ...(await Promise.all(Array.from({ length: 5 }, () => state(unknown, 26, true))))]
  const kept = [await state(unknown, 23, false), await state(held, -0.1, false), await state(held, 1, true)]
  const result = await worker.retention.run()
  assert.ok(result.expiredOAuthStates >= gone.length, JSON.stringify(result))
  const left = (await db.adminQuery<{ id: string }>('select id from integration.oauth_states where id = any($1::uuid[])', [[...gone, ...kept]])).map((row) => row.id).sort()
  assert.deepEqual(left, [...kept].sort())
  assert.match(await scrapeMetrics(worker), /integration_retention_purged_total\{[^}]*kind="oauth_states"[^}]*\} [1-9]/)
})

test('nothing under a hold is purged: a tenant hold keeps everything, a venue or connection hold keeps what is under it', async () => {
  const held = await seed()
  plans.set(held.tenant, { ...plans.get(held.tenant), tenantHeld: true })
  const byConnection = await seed()
  plans.set(byConnection.tenant, { ...plans.get(byConnection.tenant), heldConnectionIds: [byConnection.expiredConnection, byConnection.liveConnection] })
  const byVenue = await seed()
  const venueOf = (await db.adminQuery<{ venue_id: string }>('select venue_id from integration.connections where id = $1', [byVenue.expiredConnection]))[0]?.venue_id ?? ''
  plans.set(byVenue.tenant, { ...plans.get(byVenue.tenant), heldVenueIds: [venueOf] })
  const before = { payloads: await idsOf('webhook_inbox', held.tenant), logs: await idsOf('sync_logs', held.tenant) }

  const result = await worker.retention.run()
  assert.ok(result.heldTenants >= 1)
  assert.equal(await countRecords(held.expiredConnection), 9)
  assert.deepEqual([await idsOf('webhook_inbox', held.tenant), await idsOf('sync_logs', held.tenant)], [before.payloads, before.logs])
  assert.equal((await outbox(held.tenant)).length, 0)

  // The connection hold: its records, payloads and logs stay.
  assert.equal(await countRecords(byConnection.expiredConnection), 9)
  assert.equal((await idsOf('webhook_inbox', byConnection.tenant)).length, 6)
  assert.equal((await idsOf('sync_logs', byConnection.tenant)).length, 8)
  // The venue hold covers its connections; the live one is in another venue, so its old payloads go.
  assert.equal(await countRecords(byVenue.expiredConnection), 9)
  assert.deepEqual(await idsOf('webhook_inbox', byVenue.tenant), byVenue.keptPayloads)
  assert.equal((await idsOf('sync_logs', byVenue.tenant)).length, 8, 'the seeded logs name the held venue')
})

test('when compliance-service cannot answer, nothing is purged and the run fails; a tenant it does not know is kept', async () => {
  const s = await seed()
  complianceDown = true
  try {
    await assert.rejects(worker.retention.run(), { name: 'RetentionPlanUnavailableError' })
  } finally {
    complianceDown = false
  }
  assert.equal(await countRecords(s.expiredConnection), 9)
  assert.equal((await idsOf('webhook_inbox', s.tenant)).length, 6)

  plans.delete(s.tenant)
  await worker.retention.run()
  assert.equal(await countRecords(s.expiredConnection), 9, 'no plan for the tenant: its holds are unknown')
})

test('the clean-up runs as a job on the integration-low queue and reports its progress', async () => {
  const s = await seed()
  startSyncProcessing(worker, { skip: ['critical', 'high', 'normal'] })
  await startRetentionProcessing(worker, 0)
  const queue = worker.syncEngineInternals.syncQueues.queues.low
  assert.equal(queue.name, 'integration-low')
  const job = await queue.add(RETENTION_JOB, { kind: 'retention' } as never)
  const deadline = Date.now() + 60_000
  let state = await job.getState()
  while (state !== 'completed' && state !== 'failed' && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    state = await job.getState()
  }
  assert.equal(state, 'completed')
  const done = await queue.getJob(String(job.id))
  assert.equal(done?.progress(), 100)
  assert.equal(await countRecords(s.expiredConnection), 0)
})
