import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ServiceInstance } from '@hub/service-kit'
import { bearer, testToken } from '@hub/service-kit/testing'
import { startSyncProcessing } from '../../src/plugins/app/sync/index.ts'
import { spreadCron } from '../../src/plugins/app/sync/schedule-spread.ts'
import { setupRig } from '../connections/rig.ts'
import { signedAs } from '../helpers.ts'

const rig = await setupRig()
const tenant = randomUUID()
const admin = bearer(testToken({ tenantId: tenant, roles: ['admin'], sub: 'sync-admin' }))
const viewer = bearer(testToken({ tenantId: tenant, roles: ['viewer'] }))

async function connectStripe(app: ServiceInstance): Promise<{ venueId: string; connectionId: string; apiKey: string }> {
  const venueId = await rig.createVenue(tenant)
  const apiKey = `sk_test_api${randomUUID().replaceAll('-', '')}`
  const created = await app.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: admin, payload: { venueId, provider: 'stripe', credentials: { apiKey } } })
  assert.equal(created.statusCode, 201, created.body)
  return { venueId, connectionId: created.json().id, apiKey }
}

async function waitForJob(app: ServiceInstance, jobId: string, states = ['completed', 'failed']): Promise<{ state: string; progress: unknown; syncLogId: string | null }> {
  const deadline = Date.now() + 30_000
  for (;;) {
    const job = await app.inject({ url: `/api/v1/integrations/sync/jobs/${jobId}`, headers: admin })
    assert.equal(job.statusCode, 200, job.body)
    if (states.includes(job.json().state) || Date.now() > deadline) return job.json()
    await sleep(100)
  }
}

test('a manual sync runs on integration-high, reports progress, and its records and sync log are readable', async (t) => {
  const app = await rig.build({}, { listen: true })
  t.after(() => app.close())
  const { venueId } = await connectStripe(app)
  const requested = await app.inject({ method: 'POST', url: '/api/v1/integrations/sync/stripe/sync', headers: admin, payload: { venueId, entities: ['customer'], mode: 'full' } })
  assert.equal(requested.statusCode, 202, requested.body)
  const [job] = requested.json().jobs
  assert.equal(job.queue, 'integration-high')
  const again = await app.inject({ method: 'POST', url: '/api/v1/integrations/sync/stripe/sync', headers: admin, payload: { venueId, entities: ['customer'] } })
  assert.equal(again.statusCode, 409, 'overlapping runs are refused')
  assert.equal(again.json().code, 'SYNC_ALREADY_RUNNING')

  const worker = startSyncProcessing(app)
  t.after(() => worker.stop())
  const done = await waitForJob(app, job.jobId)
  assert.equal(done.state, 'completed', JSON.stringify(done))
  assert.ok(done.progress, 'progress was reported')

  const logs = await app.inject({ url: `/api/v1/integrations/sync-logs?venueId=${venueId}`, headers: viewer })
  const [log] = logs.json().data
  assert.equal(log.status, 'succeeded')
  assert.equal(log.counts.created, 20)
  assert.equal(log.trigger, 'manual')

  // The feed holds the run's records back while an older transaction anywhere in the cluster is
  // still open (other test files run beside this one): read again until they have all come.
  let seen = new Set<string>()
  let pages = 0
  const deadline = Date.now() + 15_000
  for (;;) {
    seen = new Set<string>()
    let cursor: string | null = null
    pages = 0
    do {
      const page: Awaited<ReturnType<typeof app.inject>> = await app.inject({ url: `/api/v1/integrations/records?venueId=${venueId}&provider=stripe&entity=customer&limit=7${cursor ? `&cursor=${cursor}` : ''}`, headers: viewer })
      assert.equal(page.statusCode, 200, page.body)
      assert.deepEqual(Object.keys(page.json()).sort(), ['data', 'nextCursor', 'resumeCursor'], 'the list shape, and where a changed-since feed resumes')
      for (const record of page.json().data) seen.add(record.externalId)
      cursor = page.json().nextCursor
      pages++
    } while (cursor)
    if (seen.size >= 20 || Date.now() > deadline) break
    await sleep(100)
  }
  assert.equal(seen.size, 20)
  assert.equal(pages, 3, '7 + 7 + 6: the last page says so with nextCursor null')
  const stranger = bearer(testToken({ tenantId: randomUUID(), roles: ['admin'] }))
  assert.deepEqual((await app.inject({ url: `/api/v1/integrations/records?venueId=${venueId}`, headers: stranger })).json().data, [], 'another tenant sees nothing')
  assert.equal((await app.inject({ url: `/api/v1/integrations/sync/jobs/${job.jobId}`, headers: stranger })).statusCode, 404)
})

test('cancel, roles and bad input on the sync API', async () => {
  const app = await rig.build()
  const { venueId } = await connectStripe(app)
  const requested = await app.inject({ method: 'POST', url: '/api/v1/integrations/sync/stripe/sync', headers: admin, payload: { venueId, entities: ['product'] } })
  const jobId = requested.json().jobs[0].jobId
  const cancelled = await app.inject({ method: 'POST', url: `/api/v1/integrations/sync/jobs/${jobId}/cancel`, headers: admin })
  assert.equal(cancelled.statusCode, 200, cancelled.body)
  assert.equal(cancelled.json().state, 'cancelled')
  const manager = bearer(testToken({ tenantId: tenant, roles: ['manager'], venueIds: [randomUUID()] }))
  assert.equal((await app.inject({ method: 'POST', url: '/api/v1/integrations/sync/stripe/sync', headers: manager, payload: { venueId } })).statusCode, 404)
  assert.equal((await app.inject({ method: 'POST', url: '/api/v1/integrations/sync/stripe/sync', headers: viewer, payload: { venueId } })).statusCode, 403)
  assert.equal((await app.inject({ method: 'POST', url: '/api/v1/integrations/sync/square/sync', headers: admin, payload: { venueId } })).json().code, 'CONNECTION_NOT_FOUND')
  for (const payload of [{ venueId: 'x' }, { venueId, entities: ['planets'] }, { venueId, mode: 'sometimes' }, { venueId, extra: true }]) {
    const response = await app.inject({ method: 'POST', url: '/api/v1/integrations/sync/stripe/sync', headers: admin, payload })
    assert.equal(response.statusCode, 400, JSON.stringify(payload))
  }
  assert.equal((await app.inject({ method: 'POST', url: '/api/v1/integrations/sync/paypal/sync', headers: admin, payload: { venueId } })).statusCode, 400)
  assert.equal((await app.inject({ url: '/api/v1/integrations/records?venueId=x', headers: admin })).statusCode, 400)
  assert.equal((await app.inject({ url: `/api/v1/integrations/records?venueId=${venueId}&cursor=zzz`, headers: admin })).json().code, 'INVALID_CURSOR')
})

test('field mappings: admins manage them, each change is audited and queues a full re-sync', async () => {
  const app = await rig.build()
  const { venueId } = await connectStripe(app)
  const payload = { provider: 'stripe', entity: 'customer', sourcePath: 'metadata.tier', targetField: 'loyaltyTier', transform: 'uppercase' }
  assert.equal((await app.inject({ method: 'POST', url: '/api/v1/integrations/field-mappings', headers: viewer, payload })).statusCode, 403)
  const created = await app.inject({ method: 'POST', url: '/api/v1/integrations/field-mappings', headers: admin, payload })
  assert.equal(created.statusCode, 201, created.body)
  const logs = await app.inject({ url: `/api/v1/integrations/sync-logs?venueId=${venueId}&entity=customer`, headers: admin })
  assert.deepEqual(
    logs.json().data.map((l: { mode: string; status: string }) => [l.mode, l.status]),
    [['full', 'queued']],
    'a full re-sync was queued',
  )
  assert.equal((await app.inject({ method: 'POST', url: '/api/v1/integrations/field-mappings', headers: admin, payload })).json().code, 'FIELD_MAPPING_EXISTS')
  const id = created.json().id
  const patched = await app.inject({ method: 'PATCH', url: `/api/v1/integrations/field-mappings/${id}`, headers: admin, payload: { transform: 'lowercase' } })
  assert.equal(patched.json().transform, 'lowercase')
  const empty = await app.inject({ method: 'PATCH', url: `/api/v1/integrations/field-mappings/${id}`, headers: admin, payload: {} })
  assert.equal(empty.statusCode, 400, 'PATCH {} changes nothing and is refused')
  assert.equal(empty.json().code, 'VALIDATION_FAILED')
  assert.equal((await app.inject({ method: 'PATCH', url: `/api/v1/integrations/field-mappings/${randomUUID()}`, headers: admin, payload: { transform: 'trim' } })).json().code, 'FIELD_MAPPING_NOT_FOUND')
  assert.equal((await app.inject({ url: '/api/v1/integrations/field-mappings?provider=stripe', headers: viewer })).json().data.length, 1)
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/integrations/field-mappings/${id}`, headers: admin })).statusCode, 204)
  const actions = await rig.db.adminQuery<{ action: string }>('select action from integration.audit_outbox where entity_id = $1 order by occurred_at', [id])
  assert.deepEqual(
    actions.map((a) => a.action),
    ['field_mapping.created', 'field_mapping.updated', 'field_mapping.deleted'],
  )
  assert.equal((await app.inject({ method: 'POST', url: '/api/v1/integrations/field-mappings', headers: admin, payload: { ...payload, sourcePath: 'a..b' } })).statusCode, 400)
})

test('field mappings are listed a page at a time as {data, nextCursor}', async () => {
  const app = await rig.build()
  const fields = ['alpha', 'bravo', 'charlie', 'delta', 'echo']
  for (const targetField of fields) {
    const created = await app.inject({ method: 'POST', url: '/api/v1/integrations/field-mappings', headers: admin, payload: { provider: 'square', entity: 'product', sourcePath: `x.${targetField}`, targetField } })
    assert.equal(created.statusCode, 201, created.body)
  }
  const seen: string[] = []
  let cursor: string | null = null
  do {
    const page: Awaited<ReturnType<typeof app.inject>> = await app.inject({ url: `/api/v1/integrations/field-mappings?provider=square&limit=2${cursor ? `&cursor=${cursor}` : ''}`, headers: viewer })
    assert.equal(page.statusCode, 200, page.body)
    seen.push(...page.json().data.map((m: { targetField: string }) => m.targetField))
    cursor = page.json().nextCursor
  } while (cursor)
  assert.deepEqual(seen, fields)
  const tampered = Buffer.from(JSON.stringify({ p: 'square', e: 'product', t: "x' or 1=1" })).toString('base64url')
  assert.equal((await app.inject({ url: `/api/v1/integrations/field-mappings?cursor=${tampered}`, headers: viewer })).json().code, 'INVALID_CURSOR')
})

test('operators: queue counts, pause and resume, the dashboard, and the signed internal trigger', async () => {
  const app = await rig.build({ OPERATOR_TENANT_IDS: tenant })
  const { venueId } = await connectStripe(app)
  const counts = await app.inject({ url: '/api/v1/integrations/admin/queue-counts', headers: admin })
  assert.equal(counts.statusCode, 200, counts.body)
  assert.deepEqual(
    counts.json().queues.map((q: { queue: string }) => q.queue),
    ['integration-critical', 'integration-high', 'integration-normal', 'integration-low'],
  )
  const otherAdmin = bearer(testToken({ tenantId: randomUUID(), roles: ['admin'] }))
  assert.equal((await app.inject({ url: '/api/v1/integrations/admin/queue-counts', headers: otherAdmin })).json().code, 'OPERATOR_ONLY')
  assert.equal((await app.inject({ url: '/api/v1/integrations/admin/queue-counts', headers: viewer })).statusCode, 403)
  assert.equal((await app.inject({ method: 'POST', url: '/api/v1/integrations/admin/queue-control/integration-low/pause', headers: admin })).statusCode, 204)
  assert.equal((await app.inject({ url: '/api/v1/integrations/admin/queue-counts', headers: admin })).json().queues[3].paused, true)
  assert.equal((await app.inject({ method: 'POST', url: '/api/v1/integrations/admin/queue-control/integration-low/resume', headers: admin })).statusCode, 204)
  assert.equal((await app.inject({ method: 'POST', url: '/api/v1/integrations/admin/queue-control/nope/pause', headers: admin })).statusCode, 404)
  const board = await app.inject({ url: '/api/v1/integrations/admin/queues', headers: admin })
  assert.equal(board.statusCode, 200)
  assert.match(board.body, /<html/i)
  assert.equal((await app.inject({ url: '/api/v1/integrations/admin/queues' })).statusCode, 401)
  assert.equal((await app.inject({ url: '/api/v1/integrations/admin/queues', headers: otherAdmin })).statusCode, 403)
  assert.deepEqual((await app.inject({ url: '/api/v1/integrations/admin/dead-letters', headers: admin })).json(), { data: [], nextCursor: null })
  assert.equal((await app.inject({ url: '/api/v1/integrations/admin/circuit-breakers', headers: admin })).statusCode, 200)
  const unknownBreaker = await app.inject({ method: 'POST', url: `/api/v1/integrations/admin/circuit-breakers/${randomUUID()}/reset`, headers: admin })
  assert.equal(unknownBreaker.statusCode, 404, 'an unknown connection is a 404, not 200 reset:false')
  assert.equal(unknownBreaker.json().code, 'CONNECTION_NOT_FOUND')

  const body = JSON.stringify({ tenantId: tenant, venueId, provider: 'stripe', entities: ['payment'] })
  const trigger = await app.inject({ method: 'POST', url: '/internal/sync/trigger', payload: body, headers: { 'content-type': 'application/json', ...signedAs('venue-service', 'POST', '/internal/sync/trigger', body) } })
  assert.equal(trigger.statusCode, 202, trigger.body)
  assert.equal(trigger.json().jobs[0].entity, 'payment')
  const [log] = await rig.db.adminQuery<{ trigger: string; queue: string }>('select trigger, queue from integration.sync_logs where id = $1', [trigger.json().jobs[0].syncLogId])
  assert.deepEqual(log, { trigger: 'batch', queue: 'integration-normal' })
  const refused = await app.inject({ method: 'POST', url: '/internal/sync/trigger', payload: body, headers: { 'content-type': 'application/json', ...signedAs('compliance-service', 'POST', '/internal/sync/trigger', body) } })
  assert.equal(refused.statusCode, 403)
})

test("scheduled syncs follow the integration's syncSchedule setting", async () => {
  const app = await rig.build()
  const { venueId, connectionId } = await connectStripe(app)
  const schedules = async () => app.syncEngine.listSchedules(tenant, connectionId)
  const initial = await schedules()
  // Hourly by default, one schedule per entity, at the connection's own minute and second.
  assert.deepEqual([...new Set(initial.map((s) => [s.cron, s.every].join('|')))], [`${spreadCron(connectionId, 'hourly')}|`])
  assert.match(initial[0]?.cron ?? '', /^\d{1,2} \d{1,2} \* \* \* \*$/)
  for (const schedule of initial) {
    const next = Date.parse(schedule.next ?? '')
    assert.ok(next > Date.now() - 1_000 && next <= Date.now() + 3_600_000, `the next run is within the hour: ${schedule.next}`)
    assert.equal(next % 3_600_000, (Number(schedule.cron?.split(' ')[1]) * 60 + Number(schedule.cron?.split(' ')[0])) * 1_000, 'at its minute and second of the hour')
  }
  assert.deepEqual(initial.map((s) => s.entity).sort(), ['customer', 'payment', 'product'])
  // An interval schedule (what earlier versions left in Redis, all connections on the hour) is
  // replaced by the connection's own cron at the reconciler's next pass; a right one is left alone.
  await app.syncEngine.scheduleConnection(tenant, connectionId, undefined, 3_600_000)
  assert.deepEqual([...new Set((await schedules()).map((s) => s.every))], [3_600_000])
  assert.equal((await app.syncEngineInternals.reconciler.reconcileSchedules()).upserted, 1)
  assert.deepEqual(await schedules(), initial)
  assert.deepEqual(await app.syncEngineInternals.reconciler.reconcileSchedules(), { upserted: 0, removed: 0 })
  const off = await app.inject({ method: 'PUT', url: `/api/v1/integrations/settings/stripe?venueId=${venueId}`, headers: admin, payload: { settings: { syncSchedule: 'off' } } })
  assert.equal(off.statusCode, 200, off.body)
  assert.deepEqual(await schedules(), [], 'off removes them')
  await app.inject({ method: 'PUT', url: '/api/v1/integrations/settings/stripe', headers: admin, payload: { settings: { syncSchedule: 'daily' } } })
  assert.deepEqual(await schedules(), [], 'the venue-level "off" still wins over the tenant-level setting')
  await app.inject({ method: 'PUT', url: `/api/v1/integrations/settings/stripe?venueId=${venueId}`, headers: admin, payload: { settings: { syncSchedule: 'every_15_minutes' } } })
  const quarterly = await schedules()
  assert.deepEqual([...new Set(quarterly.map((s) => s.cron))], [spreadCron(connectionId, 'every_15_minutes')])
  assert.match(quarterly[0]?.cron ?? '', /^\d{1,2} \d{1,2}-59\/15 \* \* \* \*$/)
  assert.ok(Date.parse(quarterly[0]?.next ?? '') <= Date.now() + 900_000, 'the next run is within a quarter of an hour')
  await app.inject({ method: 'DELETE', url: `/api/v1/integrations/connections/${connectionId}`, headers: admin })
  assert.deepEqual(await schedules(), [], 'a disconnected connection is not scheduled')
})
