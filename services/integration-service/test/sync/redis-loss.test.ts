// Postgres is the truth, Redis can be rebuilt: every key of the hub's Redis prefix is deleted in
// the middle of several syncs (some running in a real worker process, some waiting, schedules set),
// and the worker's reconciler puts Redis back in line — every run completes exactly once without
// anyone asking again, and the schedules come back. A partial job record never blocks a connection.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, test } from 'node:test'
import { deleteRedisPrefix } from '@hub/service-kit/testing'
import type { ServiceInstance } from '@hub/service-kit'
import { setupSyncRig } from './sync-rig.ts'
import { until } from '../helpers.ts'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const rig = await setupSyncRig({ sims: { stripe: { recordsPerEntity: 5 } } })

async function seededConnection(app: ServiceInstance, tenantId: string, count: number) {
  const account = await rig.account('stripe')
  await rig.control('stripe', 'POST', `/_sim/accounts/${account.accountId}/seed`, { entity: 'customer', count })
  return rig.connect(app, { tenantId, provider: 'stripe', ...account })
}

describe('Redis emptied', () => {
  test('keys of the prefix deleted mid-sync: every run completes exactly once without a user request, and the schedules come back', { timeout: 180_000 }, async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: rig.prefix })
    const tenantId = randomUUID()
    const TOTAL = 3_000
    const connections = []
    for (let i = 0; i < 5; i++) connections.push(await seededConnection(app, tenantId, TOTAL))
    const runs: string[] = []
    for (const connection of connections) {
      const { jobs } = await app.syncEngine.enqueueSync({ tenantId, venueId: connection.venueId, connectionId: connection.id, entities: ['customer'], mode: 'full', trigger: 'manual', queue: 'high' })
      runs.push(jobs[0]?.syncLogId as string)
    }
    const stripeEntities = app.providers.stripe.adapter.entities.length
    const expectedSchedules = connections.length * stripeEntities
    const schedules = async () => (await app.syncEngine.queues.normal.getRepeatableJobs()).filter((job) => (job.id ?? '').startsWith('schedule-'))

    // Two runs at a time, each slowed to 10 pages a second: caught in the middle, with more waiting.
    const worker = await rig.spawnWorker({ SYNC_RATE_LIMIT_STRIPE: '10/1s', SYNC_CONCURRENCY_HIGH: '2', SYNC_RECONCILE_INTERVAL_MS: '1000' })
    // The worker's first reconciler pass schedules every active connection from its settings (hourly).
    await until('the schedules of every connection', async () => (await schedules()).length === expectedSchedules)
    await until('two runs in the middle', async () => {
      const logs = await Promise.all(runs.map((id) => rig.syncLog(id)))
      return logs.filter((log) => log.status === 'running' && log.records_fetched >= 300).length >= 2
    })

    // Redis restarted empty, as a failover or an eviction leaves it.
    await deleteRedisPrefix(rig.prefix)
    const before = await Promise.all(runs.map((id) => rig.syncLog(id)))
    assert.ok(
      before.some((log) => log.status === 'queued'),
      'some runs were still waiting when Redis was emptied',
    )

    // Nobody asks again: the reconciler re-enqueues what Postgres says is queued or running.
    const done: Json[] = []
    for (const id of runs) done.push(await rig.waitForLog(id, ['succeeded', 'partial', 'failed', 'cancelled'], 120_000))
    for (const [i, log] of done.entries()) {
      assert.deepEqual([log.status, log.error_code], ['succeeded', null], `run ${i}: ${String(log.error_message)}`)
      assert.equal(log.records_fetched, TOTAL, `run ${i} counted every record once`)
      assert.equal(log.records_created, TOTAL, `run ${i} created every record once`)
      const connectionId = connections[i]?.id as string
      // Each connection's hourly schedule fires at its own minute of the hour: a test that runs
      // across one also sees its incremental runs of every entity, which are not requests.
      const [stats] = await rig.db.adminQuery<{ total: string; distinct_ids: string }>("select count(*) as total, count(distinct external_id) as distinct_ids from integration.records where connection_id = $1 and entity = 'customer'", [
        connectionId,
      ])
      assert.deepEqual(stats, { total: String(TOTAL), distinct_ids: String(TOTAL) })
      const logs = await rig.db.adminQuery<{ id: string }>("select id from integration.sync_logs where connection_id = $1 and trigger <> 'scheduled'", [connectionId])
      assert.deepEqual(
        logs.map((row) => row.id),
        [runs[i]],
        'one run per request: nothing was started twice',
      )
    }
    assert.equal((await schedules()).length, expectedSchedules, 'the schedules are back')
    // Its reconciler would otherwise take up the next tests' runs (same database, another Redis
    // prefix, so not the same run lock) and run them beside their own worker.
    await new Promise<void>((resolve) => {
      if (worker.exitCode !== null || worker.signalCode !== null) return resolve()
      worker.once('exit', () => resolve())
      worker.kill('SIGKILL')
    })
  })
})

describe('partial job records', () => {
  // What a worker writing into an emptied Redis used to leave: a job hash with no name, data or timestamp.
  async function partialize(app: ServiceInstance, jobId: string): Promise<void> {
    const queue = app.syncEngine.queues.high
    const key = queue.toKey(jobId)
    await queue.client.del(key)
    await queue.client.hset(key, 'opts', JSON.stringify({ attempts: 7 }))
  }

  test('a run whose job is a partial record does not answer SYNC_ALREADY_RUNNING forever', async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}partial:` })
    const tenantId = randomUUID()
    const connection = await seededConnection(app, tenantId, 10)
    const request = () => app.syncEngine.enqueueSync({ tenantId, venueId: connection.venueId, connectionId: connection.id, entities: ['customer'], mode: 'full', trigger: 'manual', queue: 'high' })
    const first = (await request()).jobs[0] as { jobId: string; syncLogId: string }
    await partialize(app, first.jobId)

    const second = (await request()).jobs[0] as { jobId: string; syncLogId: string }
    assert.notEqual(second.syncLogId, first.syncLogId)
    assert.deepEqual([(await rig.syncLog(first.syncLogId)).status, (await rig.syncLog(first.syncLogId)).error_code], ['failed', 'JOB_LOST'])
    assert.equal(await app.syncEngine.queues.high.client.exists(app.syncEngine.queues.high.toKey(first.jobId)), 0, 'the partial record is gone')
    const job = await app.syncEngine.getJob(tenantId, second.jobId)
    assert.equal(job.state, 'waiting')
  })

  test('the reconciler re-enqueues a run whose job is partial, gone or finished under its own job id, and resumes it', async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}reconcile:` })
    const tenantId = randomUUID()
    const partialRun = await seededConnection(app, tenantId, 250)
    const goneRun = await seededConnection(app, tenantId, 250)
    const failedRun = await seededConnection(app, tenantId, 250)
    const enqueue = async (connection: { id: string; venueId: string }) =>
      (await app.syncEngine.enqueueSync({ tenantId, venueId: connection.venueId, connectionId: connection.id, entities: ['customer'], mode: 'full', trigger: 'manual', queue: 'high' })).jobs[0] as { jobId: string; syncLogId: string }
    const a = await enqueue(partialRun)
    const b = await enqueue(goneRun)
    const c = await enqueue(failedRun)
    await partialize(app, a.jobId)
    await (await app.syncEngine.queues.high.getJob(b.jobId))?.remove()
    // A job Bull holds as failed while its run is still queued (its ending never reached Postgres).
    const high = app.syncEngine.queues.high
    await high.client.multi().lrem(high.toKey('wait'), 0, c.jobId).zadd(high.toKey('failed'), Date.now(), c.jobId).hset(high.toKey(c.jobId), 'failedReason', 'lost its ending', 'finishedOn', String(Date.now())).exec()

    // Runs younger than a couple of seconds may be mid-enqueue in the API process: left alone.
    const { reconciler } = app.syncEngineInternals
    // Each run is requeued once it is old enough, so on a slow box one pass can take one and the
    // next the other (and the file's other runs share the database): wait for these two jobs.
    // Bull itself is asked: the engine's getJob answers from the sync log once Bull has no job,
    // which would count a run whose job is still gone as requeued.
    const requeued = async (run: { jobId: string }) => {
      const job = await app.syncEngine.queues.high.getJob(run.jobId)
      return job !== null && Number.isFinite(job.timestamp) && job.data.kind === 'sync' && (await job.getState()) === 'waiting'
    }
    // A finished job's id leaves Bull's finished sets with it: left there, the job added again under
    // it would read as finished, and the next pass would replace it while it runs.
    await until('the reconciler to requeue the three runs', async () => {
      await reconciler.reconcileRuns()
      return ((await requeued(a)) && (await requeued(b)) && (await requeued(c))) || null
    })
    const queued = new Map<string, number | undefined>()
    for (const run of [a, b, c]) {
      const job = await app.syncEngine.getJob(tenantId, run.jobId)
      assert.deepEqual([job.state, job.syncLogId, job.data.kind], ['waiting', run.syncLogId, 'sync'])
      queued.set(run.jobId, (await app.syncEngine.queues.high.getJob(run.jobId))?.timestamp)
    }
    // A live job is left alone: another pass does not add these runs again. (Its count is not
    // asserted: the file's other tests leave runs in this database whose jobs live under other
    // Redis prefixes, and a pass may rightly requeue those.)
    await reconciler.reconcileRuns()
    for (const run of [a, b, c]) assert.equal((await app.syncEngine.queues.high.getJob(run.jobId))?.timestamp, queued.get(run.jobId), `run ${run.syncLogId}: a live job is left alone`)

    // A worker now runs them to the end, each in its own sync log.
    startWorker(app)
    for (const run of [a, b, c]) {
      const log = await rig.waitForLog(run.syncLogId)
      assert.deepEqual([log.status, log.records_fetched, log.records_created], ['succeeded', 250, 250])
    }
  })
})

function startWorker(app: ServiceInstance): void {
  app.syncEngineInternals.start()
}
