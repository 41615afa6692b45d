// Runs as a user sees them: a job delivered twice, overlapping runs refused, cancel, field
// mappings forcing a full re-sync, schedules, job lookups across tenants and metrics.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ServiceInstance } from '@hub/service-kit'
import { eventually, scrapeMetrics } from '@hub/service-kit/testing'
import type { SyncJobData } from '../../src/plugins/app/sync/sync-queues.ts'
import { setupSyncRig } from './sync-rig.ts'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const rig = await setupSyncRig({ sims: { stripe: { recordsPerEntity: 30 } } })

async function stripeConnection(app: ServiceInstance, customers?: number) {
  const tenantId = randomUUID()
  const account = await rig.account('stripe')
  if (customers !== undefined) await rig.control('stripe', 'POST', `/_sim/accounts/${account.accountId}/seed`, { entity: 'customer', count: customers })
  const connection = await rig.connect(app, { tenantId, provider: 'stripe', ...account })
  return { tenantId, account, connection }
}
type Conn = Awaited<ReturnType<typeof stripeConnection>>

async function enqueue(app: ServiceInstance, c: Conn, mode: 'full' | 'incremental' = 'full') {
  const { jobs } = await app.syncEngine.enqueueSync({ tenantId: c.tenantId, venueId: c.connection.venueId, connectionId: c.connection.id, entities: ['customer'], mode, trigger: 'manual', queue: 'high' })
  return jobs[0] as { jobId: string; syncLogId: string }
}

const snapshot = (connectionId: string) => rig.db.adminQuery<Json>('select external_id, change_seq::text, updated_at::text, content_hash, deleted_at from integration.records where connection_id = $1 order by external_id', [connectionId])

describe('idempotency', () => {
  test('the same job delivered twice changes nothing the second time; a re-run over unchanged data rewrites nothing', async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}twice:` }, { worker: true })
    const c = await stripeConnection(app)
    const job = await enqueue(app, c)
    const log = await rig.waitForLog(job.syncLogId)
    assert.equal(log.status, 'succeeded')
    const records = await snapshot(c.connection.id)
    assert.equal(records.length, 30)

    // Bull delivers the same job data again (as after a lost acknowledgement).
    const data = (await app.syncEngine.getJob(c.tenantId, job.jobId)).data as SyncJobData
    const again = await app.syncEngine.queues.high.add('sync', data, { jobId: `${job.jobId}-again` })
    const result = (await again.finished()) as Json
    assert.equal(result.status, 'skipped')
    assert.deepEqual(await snapshot(c.connection.id), records, 'records untouched')
    assert.deepEqual(await rig.syncLog(job.syncLogId), log, 'the sync log untouched')

    // A new full run over the same provider data: every record unchanged, none rewritten.
    const rerun = await enqueue(app, c)
    const second = await rig.waitForLog(rerun.syncLogId)
    assert.deepEqual([second.records_fetched, second.records_created, second.records_updated, second.records_unchanged, second.records_deleted], [30, 0, 0, 30, 0])
    assert.deepEqual(await snapshot(c.connection.id), records, 'updated_at and change_seq unchanged')
  })
})

describe('idempotency, at once', () => {
  test('the same job delivered twice at once: the second waits for the run lock, then finds the run ended and does nothing', async () => {
    // Slowed to two pages a second, so the second delivery starts while the first is working.
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}twice-at-once:`, SYNC_CONCURRENCY_HIGH: '2', SYNC_RATE_LIMIT_STRIPE: '2/1s' })
    const c = await stripeConnection(app, 270)
    const job = await enqueue(app, c)
    const data = (await app.syncEngine.queues.high.getJob(job.jobId))?.data as SyncJobData
    const again = await app.syncEngine.queues.high.add('sync', data, { jobId: `${job.jobId}-again` })
    app.syncEngineInternals.start()
    const first = await app.syncEngine.queues.high.getJob(job.jobId)
    const results = (await Promise.all([first?.finished(), again.finished()])) as Json[]
    assert.deepEqual(results.map((result) => result.status).sort(), ['skipped', 'succeeded'])
    assert.equal(results.find((result) => result.status === 'skipped')?.reason, 'already succeeded')
    const log = await rig.waitForLog(job.syncLogId)
    assert.deepEqual([log.status, log.records_fetched, log.records_created, log.records_unchanged], ['succeeded', 270, 270, 0], 'one run counted once')
  })
})

describe('overlap', () => {
  test('a second run of the same connection and entity is refused while one is queued or running', async () => {
    // No processors here: runs stay queued.
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}overlap:` })
    const c = await stripeConnection(app)
    const first = await enqueue(app, c)
    await assert.rejects(enqueue(app, c, 'incremental'), (error: Json) => error.code === 'SYNC_ALREADY_RUNNING' && error.statusCode === 409 && JSON.stringify(error.extra?.entities) === '["customer"]')
    // Other entities of the same connection are free; all-or-nothing for a multi-entity request.
    const products = await app.syncEngine.enqueueSync({ tenantId: c.tenantId, venueId: c.connection.venueId, connectionId: c.connection.id, entities: ['product'], mode: 'full', trigger: 'manual', queue: 'high' })
    assert.equal(products.jobs.length, 1)
    await assert.rejects(
      app.syncEngine.enqueueSync({ tenantId: c.tenantId, venueId: c.connection.venueId, connectionId: c.connection.id, entities: ['payment', 'customer'], mode: 'full', trigger: 'manual', queue: 'high' }),
      (error: Json) => error.code === 'SYNC_ALREADY_RUNNING',
    )
    const [payments] = await rig.db.adminQuery<{ count: string }>("select count(*) from integration.sync_logs where connection_id = $1 and entity = 'payment'", [c.connection.id])
    assert.equal(payments?.count, '0', 'nothing half-written for the refused request')

    // A run whose job vanished from Redis does not block forever.
    const job = await app.syncEngine.queues.high.getJob(first.jobId)
    await job?.remove()
    const replacement = await enqueue(app, c)
    assert.notEqual(replacement.syncLogId, first.syncLogId)
    const lost = await rig.syncLog(first.syncLogId)
    assert.deepEqual([lost.status, lost.error_code], ['failed', 'JOB_LOST'])
  })
})

describe('enqueue failures', () => {
  test('when the queue does not answer, the run is accepted in Postgres within a second and left queued for the reconciler', async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}noqueue:` })
    const c = await stripeConnection(app)
    // Redis goes away under the queue.
    app.syncEngine.queues.high.client.disconnect()
    const started = Date.now()
    const accepted = await enqueue(app, c)
    assert.ok(Date.now() - started < 2_500, `answered in ${Date.now() - started} ms`)
    const runs = await rig.db.adminQuery<Json>('select id, status, error_code, finished_at from integration.sync_logs where connection_id = $1', [c.connection.id])
    assert.deepEqual(
      runs.map((run) => [run.id, run.status, run.error_code, run.finished_at]),
      [[accepted.syncLogId, 'queued', null, null]],
    )
  })
})

describe('cancel', () => {
  test('a running run stops cleanly at a page boundary: status cancelled, what it wrote and its checkpoint kept', async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}cancel:`, SYNC_RATE_LIMIT_STRIPE: '5/1s' }, { worker: true })
    const c = await stripeConnection(app, 2_000)
    const job = await enqueue(app, c)
    for (;;) {
      const log = await rig.syncLog(job.syncLogId)
      if (log.records_fetched >= 200) break
      await sleep(50)
    }
    const running = await app.syncEngine.getJob(c.tenantId, job.jobId)
    assert.equal(running.state, 'active')
    assert.ok((running.progress as Json).fetched >= 200, 'progress is reported on the job')
    assert.deepEqual(await app.syncEngine.cancelJob(c.tenantId, job.jobId), { jobId: job.jobId, state: 'cancelling' })
    const log = await rig.waitForLog(job.syncLogId)
    assert.equal(log.status, 'cancelled')
    assert.ok(log.finished_at)
    assert.ok(log.records_fetched < 2_000, `stopped early (${String(log.records_fetched)})`)
    const [{ count } = { count: '0' }] = await rig.db.adminQuery<{ count: string }>('select count(*) from integration.records where connection_id = $1', [c.connection.id])
    assert.equal(Number(count), log.records_created, 'every record counted was written, nothing more')
    const [state] = await rig.db.adminQuery<Json>('select run_cursor, run_sync_log_id from integration.sync_state where connection_id = $1', [c.connection.id])
    assert.ok(state?.run_cursor, 'the checkpoint is kept')
    assert.equal(log.cursor_after, state?.run_cursor, 'and shown on the log')
    await sleep(200)
    const finished = await app.syncEngine.getJob(c.tenantId, job.jobId)
    assert.equal(finished.state, 'completed')
    assert.equal((finished.result as Json).status, 'cancelled')
    await assert.rejects(app.syncEngine.cancelJob(c.tenantId, job.jobId), (error: Json) => error.code === 'JOB_FINISHED')
    // The connection is free again.
    assert.equal((await rig.waitForLog((await enqueue(app, c)).syncLogId, ['succeeded'], 60_000)).status, 'succeeded')
  })

  test('a waiting job is removed; the caller of another tenant gets 404', async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}cancelwait:` })
    const c = await stripeConnection(app)
    const job = await enqueue(app, c)
    await assert.rejects(app.syncEngine.cancelJob(randomUUID(), job.jobId), (error: Json) => error.code === 'JOB_NOT_FOUND' && error.statusCode === 404)
    await assert.rejects(app.syncEngine.getJob(randomUUID(), job.jobId), (error: Json) => error.code === 'JOB_NOT_FOUND')
    assert.equal((await app.syncEngine.getJob(c.tenantId, job.jobId)).state, 'waiting')
    assert.deepEqual(await app.syncEngine.cancelJob(c.tenantId, job.jobId), { jobId: job.jobId, state: 'cancelled' })
    assert.equal(await app.syncEngine.queues.high.getJob(job.jobId), null)
    assert.equal((await rig.syncLog(job.syncLogId)).status, 'cancelled')
    // Bull forgot the job; its sync log still answers.
    const view = await app.syncEngine.getJob(c.tenantId, job.jobId)
    assert.deepEqual([view.state, view.syncLogId], ['completed', job.syncLogId])
    await enqueue(app, c)
  })
})

describe('field mappings', () => {
  test('a changed mapping turns the next run into a full re-sync, and the mapped fields appear in record data', async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}mapping:` }, { worker: true })
    const c = await stripeConnection(app)
    await rig.waitForLog((await enqueue(app, c)).syncLogId)
    await rig.db.adminQuery(
      "insert into integration.field_mappings (tenant_id, provider, entity, source_path, target_field, transform) values ($1, 'stripe', 'customer', 'metadata.member_tier', 'tier', 'uppercase'), ($1, 'stripe', 'customer', 'email', 'contactEmail', 'lowercase'), ($1, 'stripe', 'customer', 'created', 'joinedAt', 'date')",
      [c.tenantId, c.tenantId, c.tenantId],
    )
    const remap = await rig.waitForLog((await enqueue(app, c, 'incremental')).syncLogId)
    assert.equal(remap.status, 'succeeded')
    assert.equal(remap.mode, 'full', 'the incremental request ran as a full re-sync')
    assert.deepEqual([remap.records_fetched, remap.records_updated, remap.records_unchanged], [30, 30, 0])
    const records = await rig.db.adminQuery<Json>('select data, raw from integration.records where connection_id = $1', [c.connection.id])
    for (const record of records) {
      const tier = record.raw.metadata?.member_tier as string | undefined
      assert.equal(record.data.custom.tier, tier ? tier.toUpperCase() : null)
      assert.equal(record.data.custom.contactEmail, (record.raw.email as string).toLowerCase())
      assert.equal(record.data.custom.joinedAt, new Date((record.raw.created as number) * 1000).toISOString())
      assert.equal(record.data.email, record.raw.email, 'canonical fields stay')
    }
    assert.ok(
      records.some((record) => record.data.custom.tier !== null),
      'some customers have a tier',
    )
    // Same mappings: back to incremental.
    const next = await rig.waitForLog((await enqueue(app, c, 'incremental')).syncLogId)
    assert.deepEqual([next.mode, next.records_updated], ['incremental', 0])
  })
})

describe('schedules', () => {
  test('a scheduled connection runs by itself on the normal queue until unscheduled', async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}schedule:` }, { worker: true })
    const c = await stripeConnection(app)
    // Paused while the next run is inspected: at one run a second, a loaded box would otherwise
    // see it start (or not yet be added) between the lookup and the cancel.
    await app.syncEngine.pauseQueue('normal')
    // A six-field cron in UTC, as the schedules from settings are (schedule-spread.ts), here every second.
    const schedules = await app.syncEngine.scheduleConnection(c.tenantId, c.connection.id, ['customer', 'product'], '* * * * * *')
    assert.deepEqual(schedules.map((schedule) => [schedule.entity, schedule.cron, schedule.every]).sort(), [
      ['customer', '* * * * * *', null],
      ['product', '* * * * * *', null],
    ])
    assert.deepEqual(
      (await app.syncEngine.queues.normal.getRepeatableJobs()).map((job) => job.tz),
      ['UTC', 'UTC'],
    )
    await assert.rejects(app.syncEngine.scheduleConnection(c.tenantId, c.connection.id, ['customer'], 'not a cron'), (error: Json) => error.code === 'INVALID_SCHEDULE')
    await assert.rejects(app.syncEngine.scheduleConnection(randomUUID(), c.connection.id, ['customer'], 60_000), (error: Json) => error.code === 'CONNECTION_NOT_FOUND')
    const nextTick = await eventually(
      'the next scheduled run waits in the normal queue',
      async () => (await app.syncEngine.queues.normal.getJobs(['delayed', 'paused', 'waiting'])).find((job) => job?.opts.repeat),
      (job) => job !== undefined,
    )
    await assert.rejects(app.syncEngine.cancelJob(c.tenantId, String(nextTick?.id)), (error: Json) => error.code === 'JOB_NOT_CANCELLABLE', 'cancelling it would end the schedule')
    await app.syncEngine.resumeQueue('normal')
    // Generous: on a loaded box each run of the schedule can take seconds to be picked up.
    const deadline = Date.now() + 60_000
    let runs: Json[] = []
    while (Date.now() < deadline) {
      runs = await rig.db.adminQuery<Json>("select entity, status, trigger, queue, mode from integration.sync_logs where connection_id = $1 and status = 'succeeded'", [c.connection.id])
      if (runs.filter((run) => run.entity === 'customer').length >= 2 && runs.some((run) => run.entity === 'product')) break
      await sleep(200)
    }
    const customerRuns = runs.filter((run) => run.entity === 'customer')
    assert.ok(customerRuns.length >= 2, `several scheduled runs (${customerRuns.length})`)
    for (const run of runs) assert.deepEqual([run.trigger, run.queue], ['scheduled', 'integration-normal'])
    assert.deepEqual([...new Set(customerRuns.map((run) => run.mode))].sort(), ['full', 'incremental'], 'the first run is full, the next ones incremental')
    assert.equal(await app.syncEngine.unscheduleConnection(c.tenantId, c.connection.id), 2)
    assert.deepEqual(await app.syncEngine.listSchedules(c.tenantId, c.connection.id), [])
  })
})

describe('operators', () => {
  test('queue counts, pause and resume, and metrics by queue and outcome', async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}ops:` }, { worker: true })
    const c = await stripeConnection(app)
    await app.syncEngine.pauseQueue('integration-high')
    const job = await enqueue(app, c)
    await sleep(300)
    const counts = await app.syncEngine.queueCounts()
    const high = counts.find((queue) => queue.key === 'high')
    assert.deepEqual([high?.paused, high?.waiting, high?.active], [true, 1, 0], 'a paused queue keeps its jobs waiting')
    assert.equal((await rig.syncLog(job.syncLogId)).status, 'queued')
    await app.syncEngine.resumeQueue('high')
    assert.equal((await rig.waitForLog(job.syncLogId)).status, 'succeeded')
    await assert.rejects(app.syncEngine.pauseQueue('nope'), (error: Json) => error.code === 'QUEUE_NOT_FOUND')

    // The sync log is final before the worker's attempt returns and counts the job: wait for it.
    const jobCounted = /integration_sync_jobs_total\{[^}]*queue="integration-high",kind="sync",outcome="succeeded"[^}]*\} 1/
    const metrics = await eventually(
      'the finished job counted',
      () => scrapeMetrics(app),
      (text) => jobCounted.test(text),
    )
    assert.match(metrics, /integration_sync_records_total\{[^}]*provider="stripe",entity="customer",result="created"[^}]*\} 30/)
    assert.match(metrics, /integration_sync_run_duration_seconds_count\{[^}]*kind="sync",provider="stripe",outcome="succeeded"/)
    assert.match(metrics, /integration_queue_jobs\{[^}]*queue="integration-high",state="completed"/)
  })
})
