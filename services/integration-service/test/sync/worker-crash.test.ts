// The integration-worker as a real child process, killed with SIGKILL in the middle of a
// 20,000-record sync: a new worker picks the stalled job up, resumes from the last checkpoint,
// and the run ends with every record exactly once, in one sync log row that counts each once.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { setupSyncRig, sortedIds } from './sync-rig.ts'

const TOTAL = 20_000
const rig = await setupSyncRig({ sims: { stripe: { recordsPerEntity: 5 } } })

test('a worker killed with SIGKILL mid-sync is replaced and the run finishes with every record exactly once', { timeout: 120_000 }, async () => {
  // The API side only enqueues; processors run in the child processes.
  const app = await rig.build()
  const tenantId = randomUUID()
  const account = await rig.account('stripe')
  await rig.control('stripe', 'POST', `/_sim/accounts/${account.accountId}/seed`, { entity: 'customer', count: TOTAL })
  const connection = await rig.connect(app, { tenantId, provider: 'stripe', ...account })
  const { jobs } = await app.syncEngine.enqueueSync({ tenantId, venueId: connection.venueId, connectionId: connection.id, entities: ['customer'], mode: 'full', trigger: 'manual', queue: 'high' })
  const syncLogId = jobs[0]?.syncLogId as string

  // Slow enough to be caught in the middle: the Stripe budget at 40 pages of 100 per second.
  const workerEnv = { SYNC_RATE_LIMIT_STRIPE: '40/1s' }
  const first = await rig.spawnWorker(workerEnv)
  let fetchedAtKill = 0
  const deadline = Date.now() + 60_000
  for (;;) {
    const log = await rig.syncLog(syncLogId)
    if (log.records_fetched >= 4_000) {
      first.kill('SIGKILL')
      fetchedAtKill = log.records_fetched as number
      break
    }
    assert.ok(Date.now() < deadline, `the first worker got going (status ${String(log.status)}, fetched ${String(log.records_fetched)})`)
    await sleep(50)
  }
  await once(first, 'exit')
  assert.equal(first.signalCode, 'SIGKILL')
  const atKill = await rig.syncLog(syncLogId)
  assert.equal(atKill.status, 'running', 'the killed run is left running')
  assert.ok(atKill.records_fetched < TOTAL, `killed in the middle (${String(atKill.records_fetched)} of ${TOTAL} fetched)`)
  const [{ count: writtenAtKill } = { count: '0' }] = await rig.db.adminQuery<{ count: string }>('select count(*) from integration.records where connection_id = $1', [connection.id])
  // Checkpoints commit with their batch: the log counts exactly what was written.
  assert.equal(Number(writtenAtKill), atKill.records_created, 'records written = records counted at the moment of the kill')

  const second = await rig.spawnWorker({ ...workerEnv, SYNC_RATE_LIMIT_STRIPE: '1000/1s' })
  const done = await rig.waitForLog(syncLogId, ['succeeded', 'partial', 'failed', 'cancelled'], 90_000)
  second.kill('SIGTERM')
  await once(second, 'exit')
  assert.equal(done.status, 'succeeded', `${String(done.error_code)} ${String(done.error_message)}`)

  const [stats] = await rig.db.adminQuery<{ total: string; distinct_ids: string; live: string }>(
    'select count(*) as total, count(distinct external_id) as distinct_ids, count(*) filter (where deleted_at is null) as live from integration.records where connection_id = $1 and entity = $2',
    [connection.id, 'customer'],
  )
  assert.deepEqual(stats, { total: String(TOTAL), distinct_ids: String(TOTAL), live: String(TOTAL) })
  const truth = (await rig.control('stripe', 'GET', `/_sim/accounts/${account.accountId}/customer`)).ids as string[]
  assert.deepEqual(await rig.liveIds(connection.id, 'customer'), sortedIds(truth))

  const logs = await rig.db.adminQuery<{ id: string }>("select id from integration.sync_logs where connection_id = $1 and trigger <> 'scheduled'", [connection.id])
  assert.deepEqual(
    logs.map((row) => row.id),
    [syncLogId],
    'one sync log row for the run',
  )
  assert.equal(done.records_fetched, TOTAL, 'every record fetched (counted) once across both workers')
  assert.equal(done.records_created, TOTAL)
  assert.equal(done.records_deleted, 0)
  assert.ok(fetchedAtKill >= 4_000)
  const state = (await rig.db.adminQuery<{ cursor: string | null; run_cursor: string | null }>('select cursor, run_cursor from integration.sync_state where connection_id = $1', [connection.id]))[0]
  assert.ok(state?.cursor, 'the final cursor is saved for the next incremental run')
  assert.equal(state?.run_cursor, null, 'the checkpoint is cleared once the run is done')
})

test('SIGTERM: the worker lets its running job checkpoint, hands it back, and exits; the next worker resumes it', { timeout: 120_000 }, async () => {
  const app = await rig.build()
  const tenantId = randomUUID()
  const account = await rig.account('stripe')
  const total = 10_000
  await rig.control('stripe', 'POST', `/_sim/accounts/${account.accountId}/seed`, { entity: 'customer', count: total })
  const connection = await rig.connect(app, { tenantId, provider: 'stripe', ...account })
  const { jobs } = await app.syncEngine.enqueueSync({ tenantId, venueId: connection.venueId, connectionId: connection.id, entities: ['customer'], mode: 'full', trigger: 'manual', queue: 'high' })
  const { syncLogId, jobId } = jobs[0] as { syncLogId: string; jobId: string }

  const first = await rig.spawnWorker({ SYNC_RATE_LIMIT_STRIPE: '5/1s' })
  const deadline = Date.now() + 60_000
  while ((await rig.syncLog(syncLogId)).records_fetched < 2_000) {
    assert.ok(Date.now() < deadline, 'the first worker got going')
    await sleep(50)
  }
  const stopping = Date.now()
  first.kill('SIGTERM')
  await once(first, 'exit')
  assert.equal(first.exitCode, 0, 'a clean exit')
  assert.ok(Date.now() - stopping < 10_000, `it stopped at the next page (${Date.now() - stopping} ms)`)
  const handedBack = await rig.syncLog(syncLogId)
  assert.equal(handedBack.status, 'queued', 'the run waits for another worker')
  assert.equal(handedBack.error_code, 'WORKER_STOPPING')
  const [{ count } = { count: '0' }] = await rig.db.adminQuery<{ count: string }>('select count(*) from integration.records where connection_id = $1', [connection.id])
  assert.equal(Number(count), handedBack.records_created, 'its last page was checkpointed with its records')
  const job = await app.syncEngine.getJob(tenantId, jobId)
  assert.equal(job.state, 'waiting', 'handed back to the queue at once (no backoff)')

  await rig.spawnWorker()
  const done = await rig.waitForLog(syncLogId, ['succeeded', 'partial', 'failed', 'cancelled'], 60_000)
  assert.deepEqual([done.status, done.records_fetched, done.records_created, done.error_code], ['succeeded', total, total, null])
  const [stats] = await rig.db.adminQuery<{ total: string; distinct_ids: string }>('select count(*) as total, count(distinct external_id) as distinct_ids from integration.records where connection_id = $1', [connection.id])
  assert.deepEqual(stats, { total: String(total), distinct_ids: String(total) })
})
