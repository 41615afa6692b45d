// The reconciliation API's rules without a worker: who may request, read and repair runs, input
// refused with stable problem codes, filters and tamper-checked cursors, schedules becoming Bull
// repeatable jobs (and coming back from Postgres after Redis lost them), tenant isolation in
// Postgres itself, and the drift gauges read from Postgres.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { before, describe, test } from 'node:test'
import type { ServiceInstance } from '@hub/service-kit'
import { bearer, scrapeMetrics, testToken } from '@hub/service-kit/testing'
import { setupSyncRig, type SyncRig } from '../sync/sync-rig.ts'
import { dailyCron, quickCheckCron, scheduleJobId } from '../../src/plugins/app/reconciliation/reconciliation-scheduler.ts'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const rig: SyncRig = await setupSyncRig({ sims: { stripe: { recordsPerEntity: 5 } } })
let app: ServiceInstance
const tenantId = randomUUID()
const admin = bearer(testToken({ tenantId, roles: ['admin'], sub: 'recon-admin' }))
const viewer = bearer(testToken({ tenantId, roles: ['viewer'] }))
let venueId: string
let connectionId: string

before(async () => {
  // The under-pressure guard would answer 503 on a loaded test machine; it is not what these tests are about.
  app = await rig.build({ MAX_EVENT_LOOP_DELAY_MS: '0' })
  const account = await rig.account('stripe')
  const connection = await rig.connect(app, { tenantId, provider: 'stripe', ...account })
  venueId = connection.venueId
  connectionId = connection.id
})

async function call(method: 'GET' | 'POST' | 'PUT', url: string, headers: Record<string, string>, payload?: Json): Promise<{ status: number; body: Json; type: string }> {
  const response = await app.inject({ method, url, headers, ...(payload ? { payload } : {}) })
  return { status: response.statusCode, body: response.json() as Json, type: String(response.headers['content-type']) }
}

function problem(result: { status: number; body: Json; type: string }, status: number, code: string): void {
  assert.equal(result.status, status, JSON.stringify(result.body))
  assert.equal(result.body.code, code)
  assert.match(result.type, /application\/problem\+json/)
}

describe('reconciliation API', () => {
  test('requests runs per entity, refuses a second while one is queued, and lists them with filters and a cursor', async () => {
    const created = await call('POST', '/api/v1/integrations/reconciliation/runs', admin, { venueId, provider: 'stripe' })
    assert.equal(created.status, 202, JSON.stringify(created.body))
    assert.equal(created.body.connectionId, connectionId)
    assert.deepEqual((created.body.runs as Json[]).map((run) => [run.entity, run.status, run.mode, run.trigger, run.requestedBy]).sort(), [
      ['customer', 'queued', 'full', 'manual', 'recon-admin'],
      ['payment', 'queued', 'full', 'manual', 'recon-admin'],
      ['product', 'queued', 'full', 'manual', 'recon-admin'],
    ])
    const queued = await app.syncEngineInternals.syncQueues.queues.normal.getJob(created.body.jobId as string)
    assert.deepEqual(
      (queued?.data as Json).runIds,
      (created.body.runs as Json[]).map((run) => run.id),
    )

    problem(await call('POST', '/api/v1/integrations/reconciliation/runs', admin, { venueId, provider: 'stripe', entities: ['customer'] }), 409, 'RECONCILIATION_ALREADY_RUNNING')

    const first = await call('GET', `/api/v1/integrations/reconciliation/runs?venueId=${venueId}&limit=2`, viewer)
    assert.equal(first.status, 200)
    assert.equal((first.body.data as Json[]).length, 2)
    assert.ok(first.body.nextCursor)
    const second = await call('GET', `/api/v1/integrations/reconciliation/runs?venueId=${venueId}&limit=2&cursor=${encodeURIComponent(first.body.nextCursor as string)}`, viewer)
    assert.equal((second.body.data as Json[]).length, 1)
    assert.equal(second.body.nextCursor, null)
    const all = [...(first.body.data as Json[]), ...(second.body.data as Json[])].map((run) => run.id).sort()
    assert.deepEqual(all, (created.body.runs as Json[]).map((run) => run.id).sort())

    const filtered = await call('GET', `/api/v1/integrations/reconciliation/runs?entity=payment&status=queued`, viewer)
    assert.deepEqual(
      (filtered.body.data as Json[]).map((run) => run.entity),
      ['payment'],
    )
    const tampered = `${(first.body.nextCursor as string).slice(0, -2)}xx`
    problem(await call('GET', `/api/v1/integrations/reconciliation/runs?cursor=${encodeURIComponent(tampered)}`, viewer), 400, 'INVALID_CURSOR')

    const one = await call('GET', `/api/v1/integrations/reconciliation/runs/${String((created.body.runs as Json[])[0]?.id)}`, viewer)
    assert.equal(one.status, 200)
    assert.deepEqual(one.body.items, { data: [], nextCursor: null })
    problem(await call('POST', `/api/v1/integrations/reconciliation/runs/${String((created.body.runs as Json[])[0]?.id)}/repair`, admin), 409, 'RUN_NOT_REPAIRABLE')
  })

  test('a queued run whose job Redis lost is queued again from Postgres', async () => {
    const [run] = (await call('GET', `/api/v1/integrations/reconciliation/runs?venueId=${venueId}&entity=customer`, admin)).body.data as Json[]
    assert.equal(run?.status, 'queued')
    const { queues } = app.syncEngineInternals.syncQueues
    const jobs = await queues.normal.getJobs(['waiting', 'delayed', 'paused'])
    for (const job of jobs) if ((job.data as Json).runIds?.includes(run?.id)) await job.remove()
    assert.equal((await queues.normal.getJobs(['waiting'])).filter((job) => (job.data as Json).runIds?.includes(run?.id)).length, 0)
    await rig.db.adminQuery("update integration.reconciliation_runs set created_at = created_at - interval '5 minutes' where id = $1", [run?.id])
    await app.reconciliationInternals.scheduler.restore()
    const back = await queues.normal.getJob(`recon-runs-${String(run?.id)}`)
    assert.deepEqual((back?.data as Json | undefined)?.runIds, [run?.id])
  })

  test('refuses bad input with stable codes, and callers without the right role or venue', async () => {
    problem(await call('POST', '/api/v1/integrations/reconciliation/runs', viewer, { venueId, provider: 'stripe' }), 403, 'INSUFFICIENT_ROLE')
    const manager = bearer(testToken({ tenantId, roles: ['manager'], venueIds: [randomUUID()] }))
    problem(await call('POST', '/api/v1/integrations/reconciliation/runs', manager, { venueId, provider: 'stripe' }), 404, 'CONNECTION_NOT_FOUND')
    problem(await call('POST', '/api/v1/integrations/reconciliation/runs', admin, { venueId, provider: 'stripe', entities: ['invoice'] }), 400, 'ENTITY_NOT_SUPPORTED')
    problem(await call('POST', '/api/v1/integrations/reconciliation/runs', admin, { venueId, provider: 'stripe', period: { from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' } }), 400, 'INVALID_PERIOD')
    problem(await call('POST', '/api/v1/integrations/reconciliation/runs', admin, { venueId, provider: 'stripe', extra: 1 }), 400, 'VALIDATION_FAILED')
    problem(await call('POST', '/api/v1/integrations/reconciliation/runs', admin, { venueId: randomUUID(), provider: 'stripe' }), 404, 'CONNECTION_NOT_FOUND')
    problem(await call('GET', `/api/v1/integrations/reconciliation/runs/${randomUUID()}`, admin), 404, 'RECONCILIATION_RUN_NOT_FOUND')
    problem(await call('GET', '/api/v1/integrations/reconciliation/runs/not-a-uuid', admin), 400, 'VALIDATION_FAILED')

    const [run] = (await call('GET', `/api/v1/integrations/reconciliation/runs?venueId=${venueId}`, admin)).body.data as Json[]
    const stranger = bearer(testToken({ tenantId: randomUUID(), roles: ['admin'] }))
    problem(await call('GET', `/api/v1/integrations/reconciliation/runs/${String(run?.id)}`, stranger), 404, 'RECONCILIATION_RUN_NOT_FOUND')
    const sameTenantManager = bearer(testToken({ tenantId, roles: ['manager'], venueIds: [venueId] }))
    problem(await call('POST', `/api/v1/integrations/reconciliation/runs/${String(run?.id)}/repair`, sameTenantManager), 403, 'INSUFFICIENT_ROLE')
    assert.deepEqual((await call('GET', `/api/v1/integrations/reconciliation/runs`, stranger)).body.data, [])
  })

  test('schedules become repeatable jobs in the venue time zone, and come back from Postgres', async () => {
    const url = `/api/v1/integrations/reconciliation/schedules/${connectionId}`
    const unset = await call('GET', url, viewer)
    assert.equal(unset.status, 200)
    assert.equal(unset.body.configured, false)
    problem(await call('PUT', url, admin, { timezone: 'Mars/Olympus' }), 400, 'INVALID_TIMEZONE')
    problem(await call('PUT', url, admin, { hour: 24, timezone: 'UTC' }), 400, 'VALIDATION_FAILED')
    // No time zone given and none stored: the venue's is asked of venue-service, which is down here.
    problem(await call('PUT', url, admin, { hour: 5 }), 503, 'VENUE_LOOKUP_UNAVAILABLE')
    problem(await call('PUT', url, viewer, { hour: 5, timezone: 'UTC' }), 403, 'INSUFFICIENT_ROLE')
    problem(await call('PUT', `/api/v1/integrations/reconciliation/schedules/${randomUUID()}`, admin, { timezone: 'UTC' }), 404, 'CONNECTION_NOT_FOUND')

    const saved = await call('PUT', url, admin, { hour: 4, timezone: 'Europe/London', autoRepair: true })
    assert.equal(saved.status, 200, JSON.stringify(saved.body))
    assert.deepEqual([saved.body.configured, saved.body.enabled, saved.body.hour, saved.body.timezone, saved.body.quickCheck, saved.body.autoRepair], [true, true, 4, 'Europe/London', true, true])
    const { queues } = app.syncEngineInternals.syncQueues
    const repeatables = async () => ({
      daily: (await queues.normal.getRepeatableJobs()).filter((job) => job.id === scheduleJobId(connectionId, 'full')),
      quick: (await queues.low.getRepeatableJobs()).filter((job) => job.id === scheduleJobId(connectionId, 'quick')),
    })
    let jobs = await repeatables()
    assert.deepEqual(
      jobs.daily.map((job) => [job.cron, job.tz]),
      [[dailyCron(connectionId, 4), 'Europe/London']],
    )
    assert.match(jobs.daily[0]?.cron ?? '', /^\d{1,2} \d{1,2} 4 \* \* \*$/, "in the 4 o'clock hour, at the connection's own minute and second")
    assert.deepEqual(
      jobs.quick.map((job) => [job.cron, job.tz]),
      [[quickCheckCron(connectionId), 'UTC']],
    )
    assert.match(jobs.quick[0]?.cron ?? '', /^\d{1,2} \d{1,2} \* \* \* \*$/, "hourly, at the connection's own minute and second")
    // The schedule says when, as the jobs have it.
    const [daySecond, dayMinute] = (jobs.daily[0]?.cron ?? '').split(' ').map(Number)
    const [quickSecond, quickMinute] = (jobs.quick[0]?.cron ?? '').split(' ').map(Number)
    const pad = (n: number | undefined) => String(n).padStart(2, '0')
    assert.deepEqual([saved.body.dailyRunAt, saved.body.quickCheckAt], [`04:${pad(dayMinute)}:${pad(daySecond)}`, `${pad(quickMinute)}:${pad(quickSecond)}`])
    assert.equal((await call('GET', url, admin)).body.dailyRunAt, saved.body.dailyRunAt)

    // Redis loses them; the restore puts them back from reconciliation_schedules.
    for (const job of [...jobs.daily, ...jobs.quick]) await (job.cron === quickCheckCron(connectionId) ? queues.low : queues.normal).removeRepeatableByKey(job.key)
    assert.deepEqual(await repeatables(), { daily: [], quick: [] })
    await app.reconciliationInternals.scheduler.restore()
    jobs = await repeatables()
    assert.equal(jobs.daily.length, 1)
    assert.equal(jobs.quick.length, 1)

    const off = await call('PUT', url, admin, { quickCheck: false, hour: 6 })
    assert.deepEqual([off.body.hour, off.body.timezone, off.body.quickCheck], [6, 'Europe/London', false])
    jobs = await repeatables()
    assert.deepEqual(
      jobs.daily.map((job) => job.cron),
      [dailyCron(connectionId, 6)],
    )
    assert.deepEqual(jobs.quick, [])

    // Current IANA names, which Node 20's list of zones lacks (it has Asia/Calcutta, Europe/Kiev), are zones like any other.
    for (const zone of ['Asia/Kolkata', 'Europe/Kyiv', 'Etc/GMT+5']) {
      const moved = await call('PUT', url, admin, { timezone: zone })
      assert.equal(moved.status, 200, JSON.stringify(moved.body))
      assert.equal(moved.body.timezone, zone)
      jobs = await repeatables()
      assert.deepEqual(
        jobs.daily.map((job) => job.tz),
        [zone],
      )
      assert.ok(Number.isFinite(jobs.daily[0]?.next) && (jobs.daily[0]?.next ?? 0) > Date.now(), `Bull schedules the next run in ${zone}`)
    }
    await call('PUT', url, admin, { enabled: false })
    assert.deepEqual(await repeatables(), { daily: [], quick: [] })
    const audits = await rig.db.adminQuery<{ count: string }>("select count(*) from integration.audit_outbox where tenant_id = $1 and action = 'reconciliation.schedule_updated'", [tenantId])
    // Saved, quick check off, three zones, disabled.
    assert.equal(Number(audits[0]?.count), 6)
  })

  test("Postgres keeps each tenant's runs, items and schedules to itself, even for the service role", async () => {
    const other = randomUUID()
    const visible = await app.db.withTenant(other, async (trx) => ({
      runs: await trx('integration.reconciliation_runs').count<{ count: string }[]>('* as count'),
      schedules: await trx('integration.reconciliation_schedules').count<{ count: string }[]>('* as count'),
      items: await trx('integration.reconciliation_items').count<{ count: string }[]>('* as count'),
    }))
    assert.deepEqual([visible.runs[0]?.count, visible.schedules[0]?.count, visible.items[0]?.count].map(Number), [0, 0, 0])
    const [own] = await app.db.withTenant(tenantId, (trx) => trx('integration.reconciliation_runs').count<{ count: string }[]>('* as count'))
    assert.ok(Number(own?.count) > 0)
    await assert.rejects(
      app.db.withTenant(other, (trx) => trx('integration.reconciliation_runs').insert({ tenant_id: tenantId, venue_id: venueId, connection_id: connectionId, provider: 'stripe', entity: 'customer', mode: 'full', trigger: 'manual' })),
      /row-level security/,
    )
    const forced = await rig.db.adminQuery<{ relname: string; relforcerowsecurity: boolean }>("select relname, relforcerowsecurity from pg_class where relname like 'reconciliation_%' and relkind = 'r' order by relname")
    assert.deepEqual(
      forced.map((row) => [row.relname, row.relforcerowsecurity]),
      [
        ['reconciliation_items', true],
        ['reconciliation_runs', true],
        ['reconciliation_schedules', true],
        ['reconciliation_seen', true],
      ],
    )
  })

  test('the gauges tell drift and time since the last clean run per connection, from Postgres', async () => {
    const insert = (status: string, finishedAgoHours: number, entity = 'customer') =>
      app.db.withTenant(tenantId, (trx) =>
        trx('integration.reconciliation_runs').insert({
          tenant_id: tenantId,
          venue_id: venueId,
          connection_id: connectionId,
          provider: 'stripe',
          entity,
          mode: 'full',
          trigger: 'scheduled',
          status,
          started_at: trx.raw(`now() - interval '${finishedAgoHours + 1} hours'`),
          finished_at: trx.raw(`now() - interval '${finishedAgoHours} hours'`),
        }),
      )
    await insert('clean', 50, 'product')
    await insert('drift', 2, 'payment')
    const metrics = await scrapeMetrics(app)
    assert.match(metrics, new RegExp(`integration_reconciliation_drift\\{connection_id="${connectionId}",provider="stripe"[^}]*\\} 1`))
    const since = new RegExp(`integration_reconciliation_seconds_since_clean\\{connection_id="${connectionId}",provider="stripe"[^}]*\\} (\\d+)`).exec(metrics)
    assert.ok(since, metrics)
    assert.ok(Number(since[1]) >= 50 * 3600 && Number(since[1]) < 51 * 3600, `since ${String(since[1])}`)
  })
})
