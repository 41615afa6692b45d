// Postgres is the truth for reconciliation runs too: a run whose job Redis lost while it was
// running, or whose job failed for good while Postgres was unreachable, is taken up again by the
// worker's periodic restore and finishes exactly once without anyone asking again; a run whose
// lock a live worker still holds is left to that worker.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { before, describe, test } from 'node:test'
import type { ServiceInstance } from '@hub/service-kit'
import { bearer, deleteRedisPrefix, scrapeMetrics, testToken } from '@hub/service-kit/testing'
import { INTEGRATION_SCHEMA } from '../../src/db/schema.ts'
import { runsJobId } from '../../src/plugins/app/reconciliation/reconciliation-scheduler.ts'
import { setupSyncRig, type SyncRig } from '../sync/sync-rig.ts'
import { until } from '../helpers.ts'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const rig: SyncRig = await setupSyncRig({ sims: { stripe: { recordsPerEntity: 5 } } })
let app: ServiceInstance

before(async () => {
  // The under-pressure guard would answer 503 on a loaded test machine; it is not what these tests are about.
  app = await rig.build({ MAX_EVENT_LOOP_DELAY_MS: '0' }, { worker: true })
})

interface Venue {
  tenantId: string
  venueId: string
  connectionId: string
  accountId: string
}

/** A Stripe connection (with `customers` seeded when given), its customers synced. */
async function connectedVenue(customers?: number): Promise<Venue> {
  const tenantId = randomUUID()
  const account = await rig.account('stripe')
  if (customers) await rig.control('stripe', 'POST', `/_sim/accounts/${account.accountId}/seed`, { entity: 'customer', count: customers })
  const connection = await rig.connect(app, { tenantId, provider: 'stripe', ...account })
  const { jobs } = await app.syncEngine.enqueueSync({ tenantId, venueId: connection.venueId, connectionId: connection.id, entities: ['customer'], mode: 'full', trigger: 'manual', queue: 'high' })
  for (const job of jobs) assert.equal((await rig.waitForLog(job.syncLogId)).status, 'succeeded')
  return { tenantId, venueId: connection.venueId, connectionId: connection.id, accountId: account.accountId }
}

async function openRun(venue: Venue): Promise<string> {
  const row = await app.db.withTenant(venue.tenantId, (trx) =>
    app.reconciliationInternals.runs.insert(trx, { tenantId: venue.tenantId, venueId: venue.venueId, connectionId: venue.connectionId, provider: 'stripe', entity: 'customer', mode: 'full', trigger: 'manual' }),
  )
  return row.id
}

async function runRow(runId: string): Promise<Json> {
  const [row] = await rig.db.adminQuery<Json>('select * from integration.reconciliation_runs where id = $1', [runId])
  assert.ok(row, `no run ${runId}`)
  return row
}

// The restore leaves queued runs younger than a minute to the request that is enqueueing them.
const age = (runId: string) => rig.db.adminQuery("update integration.reconciliation_runs set created_at = created_at - interval '5 minutes' where id = $1", [runId])

/** The worker's periodic restore, here pass after pass until the run has finished. */
async function restoreUntilFinished(runId: string, timeoutMs = 30_000): Promise<Json> {
  return until(
    `run ${runId} finished by the restore`,
    async () => {
      await app.reconciliationInternals.scheduler.restore()
      const row = await runRow(runId)
      return ['clean', 'drift', 'failed'].includes(row.status as string) ? row : null
    },
    timeoutMs,
  )
}

/** How often the run ended: its audit events and its `integration.reconciliation.completed` events. */
async function endings(runId: string): Promise<{ audits: number; events: number }> {
  const [audits] = await rig.db.adminQuery<{ count: string }>("select count(*) from integration.audit_outbox where action = 'reconciliation.run_completed' and entity_id = $1", [runId])
  const [events] = await rig.db.adminQuery<{ count: string }>("select count(*) from integration.event_outbox where type = 'integration.reconciliation.completed' and data->>'runId' = $1", [runId])
  return { audits: Number(audits?.count), events: Number(events?.count) }
}

describe('reconciliation runs stranded by Redis or Postgres', () => {
  test('a running run whose Redis keys were all deleted is finished by the restore, exactly once, without a user request', { timeout: 120_000 }, async () => {
    const venue = await connectedVenue(600)
    const customers = (await rig.liveIds(venue.connectionId, 'customer')).length
    assert.ok(customers >= 600, `${customers} customers synced`)
    // Each page takes longer than a renewal period of the run lock: the worker finds its lock gone before the next page.
    await rig.control('stripe', 'POST', '/_sim/faults', { kind: 'slow', delayMs: 1_500, account: venue.accountId, pathIncludes: '/v1/customers' })
    const admin = bearer(testToken({ tenantId: venue.tenantId, roles: ['admin'] }))
    const created = await app.inject({ method: 'POST', url: '/api/v1/integrations/reconciliation/runs', headers: admin, payload: { venueId: venue.venueId, provider: 'stripe', entities: ['customer'] } })
    assert.equal(created.statusCode, 202, created.body)
    const runId = ((created.json() as Json).runs as Json[])[0]?.id as string
    await until('the run past its first page', async () => {
      const row = await runRow(runId)
      return row.status === 'running' && (row.pages as number) >= 1
    })

    // Redis restarted empty, as a failover or an eviction leaves it: the run's job and lock are gone.
    await deleteRedisPrefix(rig.prefix)
    const superseded = /integration_sync_jobs_total\{[^}]*kind="reconcile"[^}]*outcome="superseded"[^}]*\} [1-9]/
    await until('the worker stepping back from the run whose lock it lost', async () => superseded.test(await scrapeMetrics(app)))
    const wedged = await runRow(runId)
    assert.equal(wedged.status, 'running', 'nothing else moves the run on')
    assert.ok((wedged.provider_count as number) < customers, `stopped part-way: ${JSON.stringify(wedged)}`)
    const request = () => app.inject({ method: 'POST', url: '/api/v1/integrations/reconciliation/runs', headers: admin, payload: { venueId: venue.venueId, provider: 'stripe', entities: ['customer'] } })
    assert.equal(((await request()).json() as Json).code, 'RECONCILIATION_ALREADY_RUNNING', 'the stranded run holds its connection and entity')
    await rig.control('stripe', 'DELETE', '/_sim/faults')

    // A running run is taken back at once, however young: no request is enqueueing it any more.
    const done = await restoreUntilFinished(runId)
    assert.deepEqual([done.status, done.error_code], ['clean', null])
    assert.equal(done.provider_count, customers, 'every customer counted once')
    assert.equal(done.hub_count, customers)
    assert.deepEqual(await endings(runId), { audits: 1, events: 1 })
    // Finished: later passes leave it alone.
    assert.equal((await app.reconciliationInternals.scheduler.restore()).runs, 0)
    assert.deepEqual(await endings(runId), { audits: 1, events: 1 })
    // And the connection is free again: the next request is taken.
    const next = await request()
    assert.equal(next.statusCode, 202, next.body)
  })

  test('a running run whose job is gone is left alone while a worker still holds its lock', { timeout: 60_000 }, async () => {
    const venue = await connectedVenue()
    const runId = await openRun(venue)
    // What Postgres holds when Redis lost the job of a run a worker is still walking.
    await rig.db.adminQuery("update integration.reconciliation_runs set status = 'running', started_at = now() where id = $1", [runId])
    const { queues } = app.syncEngineInternals.syncQueues
    const lock = await app.syncEngineInternals.control.lockRun(`${venue.connectionId}:customer:pull`)
    try {
      assert.equal((await app.reconciliationInternals.scheduler.restore()).runs, 0)
      assert.equal(await queues.normal.getJob(runsJobId(runId)), null, 'not run a second time beside the worker that holds it')
      assert.equal((await runRow(runId)).status, 'running')
    } finally {
      await lock.release()
    }
    const done = await restoreUntilFinished(runId)
    assert.equal(done.status, 'clean')
    assert.deepEqual(await endings(runId), { audits: 1, events: 1 })
  })

  test('a run whose job failed for good while Postgres refused the service is queued again once Postgres is back', { timeout: 120_000 }, async () => {
    const venue = await connectedVenue()
    const runId = await openRun(venue)
    const { queues } = app.syncEngineInternals.syncQueues
    // Postgres refuses the service's role (its open connections cut) for longer than the job's attempts last.
    await rig.db.adminQuery(`alter database "${rig.db.name}" connection limit 0`)
    try {
      await rig.db.adminQuery('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and usename = $2', [rig.db.name, INTEGRATION_SCHEMA.appRole])
      await app.reconciliationInternals.scheduler.enqueueRuns({ tenantId: venue.tenantId, venueId: venue.venueId, connectionId: venue.connectionId }, [runId])
      await until('the job failed for good', async () => (await (await queues.normal.getJob(runsJobId(runId)))?.getState()) === 'failed', 60_000)
    } finally {
      await rig.db.adminQuery(`alter database "${rig.db.name}" connection limit -1`)
    }
    assert.equal((await runRow(runId)).status, 'queued', 'the run could not be marked failed either')

    assert.equal((await app.reconciliationInternals.scheduler.restore()).runs, 0, 'a queued run younger than a minute is left to the request enqueueing it')
    await age(runId)
    const done = await restoreUntilFinished(runId)
    assert.deepEqual([done.status, done.error_code], ['clean', null])
    assert.deepEqual(await endings(runId), { audits: 1, events: 1 })
    assert.equal(await (await queues.normal.getJob(runsJobId(runId)))?.getState(), 'completed')
  })
})
