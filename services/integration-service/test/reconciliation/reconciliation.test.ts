// Reconciliation against the Stripe simulator, through the API and the real queues: records
// created, changed, deleted and refunded behind the hub's back (control API, no webhooks) are found
// exactly, none more and none fewer; repair makes the next run clean; a quick check escalates; a
// run never compares while a sync of the same (connection, entity) holds the lock; a run stopped
// half-way resumes from its checkpoint; a job delivered twice does not run or count twice.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { before, describe, test } from 'node:test'
import type Bull from 'bull'
import type { ServiceInstance } from '@hub/service-kit'
import { hubEventProblem } from '@hub/contracts'
import { bearer, scrapeMetrics, testToken } from '@hub/service-kit/testing'
import type { EntityName } from '../../src/providers/canonical.ts'
import type { JobData, ReconcileJobData } from '../../src/plugins/app/sync/sync-queues.ts'
import { setupSyncRig, sortedIds, type SyncRig } from '../sync/sync-rig.ts'
import { signedAs } from '../helpers.ts'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const rig: SyncRig = await setupSyncRig({ sims: { stripe: { recordsPerEntity: 30 } } })
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
  admin: { authorization: string }
}

async function connectedVenue(): Promise<Venue> {
  const tenantId = randomUUID()
  const account = await rig.account('stripe')
  const connection = await rig.connect(app, { tenantId, provider: 'stripe', ...account })
  const { jobs } = await app.syncEngine.enqueueSync({ tenantId, venueId: connection.venueId, connectionId: connection.id, mode: 'full', trigger: 'manual', queue: 'high' })
  for (const job of jobs) assert.equal((await rig.waitForLog(job.syncLogId)).status, 'succeeded')
  return { tenantId, venueId: connection.venueId, connectionId: connection.id, accountId: account.accountId, admin: bearer(testToken({ tenantId, roles: ['admin'], sub: 'recon-admin' })) }
}

async function api(method: 'GET' | 'POST' | 'PUT', url: string, auth: { authorization: string }, payload?: unknown): Promise<{ status: number; body: Json }> {
  const response = await app.inject({ method, url, headers: auth, ...(payload === undefined ? {} : { payload: payload as Json }) })
  return { status: response.statusCode, body: response.json() as Json }
}

async function waitForRun(venue: Venue, runId: string, timeoutMs = 60_000): Promise<Json> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { status, body } = await api('GET', `/api/v1/integrations/reconciliation/runs/${runId}?limit=1000`, venue.admin)
    assert.equal(status, 200, JSON.stringify(body))
    if (['clean', 'drift', 'failed'].includes(body.run.status as string)) return body
    if (Date.now() > deadline) throw new Error(`run ${runId} stayed ${String(body.run.status)} (${String(body.run.errorCode)})`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function reconcile(venue: Venue, body: Json = {}): Promise<Map<EntityName, Json>> {
  const created = await api('POST', '/api/v1/integrations/reconciliation/runs', venue.admin, { venueId: venue.venueId, provider: 'stripe', ...body })
  assert.equal(created.status, 202, JSON.stringify(created.body))
  const out = new Map<EntityName, Json>()
  for (const run of created.body.runs as Json[]) out.set(run.entity as EntityName, await waitForRun(venue, run.id as string))
  return out
}

const ids = (detail: Json, kind: string): string[] => sortedIds((detail.items.data as Json[]).filter((item) => item.kind === kind).map((item) => item.externalId as string))
const kinds = (detail: Json): string[] => [...new Set((detail.items.data as Json[]).map((item) => item.kind as string))].sort()

describe('reconciliation against the Stripe simulator', () => {
  test('finds exactly what changed behind the hub, and repair makes the next run clean', async () => {
    const venue = await connectedVenue()
    const { control } = rig
    const base = `/_sim/accounts/${venue.accountId}`
    const customers = await rig.liveIds(venue.connectionId, 'customer')
    const payments = await rig.liveIds(venue.connectionId, 'payment')

    // Behind the hub's back (no webhook endpoint is registered, nothing is delivered).
    const createdCustomers = (await control('stripe', 'POST', `${base}/customer`, { count: 2 })).ids as string[]
    const changedCustomer = customers[3] as string
    await control('stripe', 'PATCH', `${base}/customer/${changedCustomer}`, { name: 'Changed Behind The Hub' })
    const deletedCustomer = customers[5] as string
    await control('stripe', 'DELETE', `${base}/customer/${deletedCustomer}`)
    const created = await control('stripe', 'POST', `${base}/payment`, { count: 1 })
    const createdPayment = (created.ids as string[])[0] as string
    // The simulator seeds some charges already refunded and some failed: the first seeded one that can be.
    let refundedPayment = ''
    for (const id of payments.slice(2)) {
      const refunded = await control('stripe', 'PATCH', `${base}/payment/${id}`, { refunded: true }).then(
        () => true,
        (error: unknown) => {
          if (/charge_already_refunded|charge_not_refundable/.test(String(error))) return false
          throw error
        },
      )
      if (refunded) {
        refundedPayment = id
        break
      }
    }
    assert.ok(refundedPayment, 'a seeded charge not refunded yet')

    const first = await reconcile(venue)
    assert.deepEqual([...first.keys()].sort(), ['customer', 'payment', 'product'])

    const customer = first.get('customer') as Json
    assert.equal(customer.run.status, 'drift')
    assert.deepEqual(ids(customer, 'missing_in_hub'), sortedIds(createdCustomers))
    assert.deepEqual(ids(customer, 'changed'), [changedCustomer])
    assert.deepEqual(ids(customer, 'missing_at_provider'), [deletedCustomer])
    assert.deepEqual(kinds(customer), ['changed', 'missing_at_provider', 'missing_in_hub'])
    assert.deepEqual(customer.run.mismatches, { missingInHub: 2, missingAtProvider: 1, changed: 1, amountMismatch: 0 })
    assert.equal(customer.run.counts.provider, customers.length + 2 - 1)
    assert.equal(customer.run.counts.hub, customers.length)

    const payment = first.get('payment') as Json
    assert.equal(payment.run.status, 'drift')
    assert.deepEqual(ids(payment, 'missing_in_hub'), [createdPayment])
    assert.deepEqual(ids(payment, 'changed'), [refundedPayment])
    assert.deepEqual(ids(payment, 'missing_at_provider'), [])
    // The new payment's day and currency is the one money bucket that differs, by exactly it.
    const charge = (created.objects as Json[]).find((object) => object.object === 'charge' || object.latest_charge) as Json | undefined
    const buckets = (payment.items.data as Json[]).filter((item) => item.kind === 'amount_mismatch')
    assert.equal(buckets.length, 1, JSON.stringify(buckets))
    const bucket = buckets[0] as Json
    assert.equal((bucket.providerCount as number) - (bucket.hubCount as number), 1)
    assert.ok((bucket.providerAmount as number) > (bucket.hubAmount as number))
    if (charge?.amount) assert.equal((bucket.providerAmount as number) - (bucket.hubAmount as number), charge.amount)
    assert.deepEqual(payment.run.mismatches, { missingInHub: 1, missingAtProvider: 0, changed: 1, amountMismatch: 1 })

    const product = first.get('product') as Json
    assert.equal(product.run.status, 'clean')
    assert.deepEqual(product.items.data, [])

    // Repair: exactly the mismatched ids are re-fetched and written as the sync writes them.
    for (const entity of ['customer', 'payment'] as const) {
      const run = first.get(entity) as Json
      const repaired = await api('POST', `/api/v1/integrations/reconciliation/runs/${String(run.run.id)}/repair`, venue.admin)
      assert.equal(repaired.status, 200, JSON.stringify(repaired.body))
      const total = (run.items.data as Json[]).length
      assert.deepEqual([repaired.body.attempted, repaired.body.repaired, repaired.body.stillDifferent, repaired.body.failed], [total, total, 0, 0], `${entity}: ${JSON.stringify(repaired.body)}`)
      assert.equal(repaired.body.run.repaired, total)
      const after = await api('GET', `/api/v1/integrations/reconciliation/runs/${String(run.run.id)}`, venue.admin)
      assert.ok((after.body.items.data as Json[]).every((item) => item.repairStatus === 'repaired'))
    }
    const [gone] = await rig.db.adminQuery<Json>('select deleted_at from integration.records where connection_id = $1 and entity = $2 and external_id = $3', [venue.connectionId, 'customer', deletedCustomer])
    assert.ok(gone?.deleted_at, 'the customer the provider deleted is marked deleted, as the sync marks it')
    const truth = (await control('stripe', 'GET', `${base}/customer`)).ids as string[]
    assert.deepEqual(await rig.liveIds(venue.connectionId, 'customer'), sortedIds(truth))

    const second = await reconcile(venue)
    for (const [entity, detail] of second) {
      assert.equal(detail.run.status, 'clean', `${entity}: ${JSON.stringify(detail.items.data)}`)
      assert.deepEqual(detail.items.data, [])
    }

    const metrics = await scrapeMetrics(app)
    assert.match(metrics, /integration_reconciliation_runs_total\{[^}]*entity="customer",mode="full",outcome="drift"[^}]*\} [1-9]/)
    assert.match(metrics, /integration_reconciliation_mismatches_total\{[^}]*entity="payment",kind="amount_mismatch"[^}]*\} [1-9]/)
    assert.match(metrics, /integration_reconciliation_repairs_total\{[^}]*entity="customer",result="repaired"[^}]*\} [1-9]/)

    // Each run and each repair left an audit event.
    const audits = await rig.db.adminQuery<{ action: string; count: string }>('select action, count(*) from integration.audit_outbox where tenant_id = $1 and action like $2 group by action', [venue.tenantId, 'reconciliation.%'])
    const byAction = Object.fromEntries(audits.map((row) => [row.action, Number(row.count)]))
    assert.equal(byAction['reconciliation.run_completed'], 6)
    assert.equal(byAction['reconciliation.repaired'], 2)
    // And each finished run is one integration.reconciliation.completed event on the outbox, valid against the catalogue
    // once the relay has numbered it.
    await app.eventRelay.flush()
    const published = await rig.db.adminQuery<{ id: string; tenantId: string; venueId: string; connectionId: string; type: string; version: number; sequence: number; occurredAt: string; data: Json }>(
      `select event_id as "id", tenant_id as "tenantId", venue_id as "venueId", connection_id as "connectionId", type, version, sequence::int as sequence, to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "occurredAt", data
         from integration.event_outbox where tenant_id = $1 and type = 'integration.reconciliation.completed'`,
      [venue.tenantId],
    )
    assert.equal(published.length, 6)
    for (const entity of ['customer', 'payment'] as const) {
      const event = published.find((row) => row.data.runId === (first.get(entity) as Json).run.id)
      assert.ok(event, `${entity}: its first run was published`)
      assert.equal(hubEventProblem(event), null)
      assert.deepEqual([event.data.status, event.data.mismatches], ['drift', (first.get(entity) as Json).run.mismatches])
    }

    // compliance-service's view: the latest full run of each (connection, entity), all clean now.
    const path = `/internal/reconciliation/venue/${venue.venueId}/status?tenantId=${venue.tenantId}`
    const status = await app.inject({ method: 'GET', url: path, headers: signedAs('compliance-service', 'GET', path) })
    assert.equal(status.statusCode, 200, status.body)
    const entries = (status.json() as Json).entries as Json[]
    assert.deepEqual(entries.map((entry) => [entry.entity, entry.status, entry.mismatches]).sort(), [
      ['customer', 'clean', 0],
      ['payment', 'clean', 0],
      ['product', 'clean', 0],
    ])
  })

  test('a quick check counts and totals only, and escalates to a full run when they differ', async () => {
    const venue = await connectedVenue()
    const clean = await reconcile(venue, { entities: ['payment'], mode: 'quick' })
    const quiet = clean.get('payment') as Json
    assert.equal(quiet.run.status, 'clean')
    assert.equal(quiet.run.escalatedRunId, null)

    await rig.control('stripe', 'POST', `/_sim/accounts/${venue.accountId}/payment`, { count: 2 })
    const quick = (await reconcile(venue, { entities: ['payment'], mode: 'quick' })).get('payment') as Json
    assert.equal(quick.run.status, 'drift')
    assert.deepEqual(quick.items.data, [], 'a quick check lists no items')
    assert.equal(quick.run.counts.provider - quick.run.counts.hub, 2)
    const escalated = await waitForRun(venue, quick.run.escalatedRunId as string)
    assert.equal(escalated.run.trigger, 'escalation')
    assert.equal(escalated.run.mode, 'full')
    assert.equal(ids(escalated, 'missing_in_hub').length, 2)
  })

  test('a run over a period compares only the records created in it', async () => {
    const venue = await connectedVenue()
    const created = (await rig.control('stripe', 'POST', `/_sim/accounts/${venue.accountId}/payment`, { count: 1 })).ids as string[]
    const period = { from: new Date(Date.now() - 3600_000).toISOString(), to: new Date(Date.now() + 3600_000).toISOString() }
    const run = (await reconcile(venue, { entities: ['payment'], period })).get('payment') as Json
    assert.deepEqual(run.run.period, period)
    assert.deepEqual([run.run.counts.provider, run.run.counts.hub], [1, 0], 'the seeded, older payments are outside the period')
    assert.deepEqual(ids(run, 'missing_in_hub'), created)
    assert.deepEqual(kinds(run), ['amount_mismatch', 'missing_in_hub'])
  })

  test('never compares while a sync of the same connection and entity holds the lock', async () => {
    const venue = await connectedVenue()
    const lock = await app.syncEngineInternals.control.lockRun(`${venue.connectionId}:customer:pull`)
    let released = false
    try {
      const created = await api('POST', '/api/v1/integrations/reconciliation/runs', venue.admin, { venueId: venue.venueId, provider: 'stripe', entities: ['customer'] })
      assert.equal(created.status, 202)
      const runId = (created.body.runs as Json[])[0]?.id as string
      // The job tries, finds the sync's lock taken and steps back without comparing a page.
      const deadline = Date.now() + 30_000
      for (;;) {
        const [row] = await rig.db.adminQuery<Json>('select status, error_code, pages from integration.reconciliation_runs where id = $1', [runId])
        if (row?.error_code === 'RUN_LOCKED') {
          assert.equal(row.status, 'queued')
          assert.equal(row.pages, 0)
          break
        }
        if (Date.now() > deadline) throw new Error(`the run did not defer (${JSON.stringify(row)})`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      await lock.release()
      released = true
      const done = await waitForRun(venue, runId)
      assert.equal(done.run.status, 'clean')
    } finally {
      if (!released) await lock.release()
    }
  })

  test('does not start while a sync run stopped half-way has not finished', async () => {
    const venue = await connectedVenue()
    await rig.db.adminQuery("update integration.sync_state set run_sync_log_id = gen_random_uuid(), run_started_at = now() where connection_id = $1 and entity = 'customer'", [venue.connectionId])
    const [run] = await app.db.withTenant(venue.tenantId, async (trx) => [
      await app.reconciliationInternals.runs.insert(trx, { tenantId: venue.tenantId, venueId: venue.venueId, connectionId: venue.connectionId, provider: 'stripe', entity: 'customer', mode: 'full', trigger: 'manual' }),
    ])
    await assert.rejects(app.reconciliationInternals.engine.run(venue.tenantId, (run as Json).id as string), (error: Json) => error.code === 'SYNC_IN_PROGRESS' && error.disposition === 'defer')
    const [row] = await rig.db.adminQuery<Json>('select status, pages from integration.reconciliation_runs where id = $1', [(run as Json).id])
    assert.deepEqual([row?.status, row?.pages], ['queued', 0])
    await rig.db.adminQuery("update integration.sync_state set run_sync_log_id = null, run_started_at = null where connection_id = $1 and entity = 'customer'", [venue.connectionId])
    const done = await app.reconciliationInternals.engine.run(venue.tenantId, (run as Json).id as string)
    assert.equal(done.status, 'clean')
  })

  test('a run stopped half-way resumes from its checkpoint and counts nothing twice', async () => {
    const venue = await connectedVenue()
    await rig.control('stripe', 'POST', `/_sim/accounts/${venue.accountId}/seed`, { count: 2_500, entity: 'customer' })
    const { jobs } = await app.syncEngine.enqueueSync({ tenantId: venue.tenantId, venueId: venue.venueId, connectionId: venue.connectionId, entities: ['customer'], mode: 'full', trigger: 'manual', queue: 'high' })
    assert.equal((await rig.waitForLog((jobs[0] as Json).syncLogId as string)).status, 'succeeded')
    const created = (await rig.control('stripe', 'POST', `/_sim/accounts/${venue.accountId}/customer`, { count: 3 })).ids as string[]

    const engine = app.reconciliationInternals.engine
    const run = await app.db.withTenant(venue.tenantId, (trx) =>
      app.reconciliationInternals.runs.insert(trx, { tenantId: venue.tenantId, venueId: venue.venueId, connectionId: venue.connectionId, provider: 'stripe', entity: 'customer', mode: 'full', trigger: 'manual' }),
    )
    // The worker shuts down after the first page: the run hands back with its checkpoint.
    let pages = 0
    await assert.rejects(
      engine.run(venue.tenantId, run.id, {
        refreshStop: async () => (++pages >= 1 ? 'shutdown' : null),
      }),
      (error: Json) => error.code === 'WORKER_STOPPING',
    )
    const [half] = await rig.db.adminQuery<Json>('select status, pages, provider_count, cursor from integration.reconciliation_runs where id = $1', [run.id])
    assert.equal(half?.status, 'running')
    assert.ok(half?.pages >= 1 && half?.provider_count < 2_503, `stopped part-way: ${JSON.stringify(half)}`)
    assert.ok(half?.cursor)
    const done = await engine.run(venue.tenantId, run.id)
    assert.equal(done.status, 'drift')
    assert.equal(done.provider_count, 2_503)
    assert.equal(done.pages, 26)
    const items = await rig.db.adminQuery<{ kind: string; external_id: string }>('select kind, external_id from integration.reconciliation_items where run_id = $1', [run.id])
    assert.deepEqual(
      items.map((item) => item.kind),
      ['missing_in_hub', 'missing_in_hub', 'missing_in_hub'],
    )
    assert.deepEqual(sortedIds(items.map((item) => item.external_id)), sortedIds(created))
    const [seen] = await rig.db.adminQuery<{ count: string }>('select count(*) from integration.reconciliation_seen where run_id = $1', [run.id])
    assert.equal(Number(seen?.count), 0, "the run's notes of seen ids are dropped when it ends")
  })

  test('a scheduled job delivered twice opens its runs once and counts once', async () => {
    const venue = await connectedVenue()
    const put = await api('PUT', `/api/v1/integrations/reconciliation/schedules/${venue.connectionId}`, venue.admin, { hour: 4, timezone: 'Europe/London', quickCheck: true, autoRepair: true })
    assert.equal(put.status, 200, JSON.stringify(put.body))
    const [added] = (await rig.control('stripe', 'POST', `/_sim/accounts/${venue.accountId}/customer`, { count: 1 })).ids as string[]
    const data: ReconcileJobData = { kind: 'reconcile', action: 'scheduled', mode: 'full', tenantId: venue.tenantId, venueId: venue.venueId, connectionId: venue.connectionId }
    const job = { id: `repeat:recon:${venue.connectionId}:daily:1700000000000`, data, attemptsMade: 0, opts: { attempts: 3 }, progress: async () => undefined } as unknown as Bull.Job<JobData>
    const processor = app.reconciliationInternals.scheduler.processor(app.reconciliationInternals.engine)
    const signal = { stopReason: () => null, refresh: async () => null, dispose: () => undefined }
    const first = await processor(job, signal)
    const again = await processor(job, signal)
    assert.deepEqual([first.status, again.status], ['succeeded', 'succeeded'])
    const runs = await rig.db.adminQuery<Json>('select entity, status, missing_in_hub, repaired from integration.reconciliation_runs where connection_id = $1 order by entity', [venue.connectionId])
    // autoRepair: the drift the scheduled run found was repaired without an admin, once.
    assert.deepEqual(
      runs.map((row) => [row.entity, row.status, row.missing_in_hub, row.repaired]),
      [
        ['customer', 'drift', 1, 1],
        ['payment', 'clean', 0, 0],
        ['product', 'clean', 0, 0],
      ],
    )
    assert.ok((await rig.liveIds(venue.connectionId, 'customer')).includes(added as string), 'the missing customer was written by the repair')
    const [repairs] = await rig.db.adminQuery<{ count: string }>("select count(*) from integration.audit_outbox where tenant_id = $1 and action = 'reconciliation.repaired'", [venue.tenantId])
    assert.equal(Number(repairs?.count), 1)
    const [items] = await rig.db.adminQuery<{ count: string }>('select count(*) from integration.reconciliation_items i join integration.reconciliation_runs r on r.id = i.run_id where r.connection_id = $1', [venue.connectionId])
    assert.equal(Number(items?.count), 1)
  })
})
