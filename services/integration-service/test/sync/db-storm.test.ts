// A storm of killed Postgres connections (pg_terminate_backend from an admin connection, as a
// failover or an operator does) in the middle of a sync: every step that meets a terminated
// connection is retried inside the job, so the run finishes with every record exactly once and
// without spending a single job attempt.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { INTEGRATION_SCHEMA } from '../../src/db/schema.ts'
import { isTransientDbError } from '../../src/plugins/app/sync/transient-retry.ts'
import { setupSyncRig } from './sync-rig.ts'

const rig = await setupSyncRig({ sims: { stripe: { recordsPerEntity: 5 } } })

test('terminated connections, serialization failures and deadlocks are transient; a bad query is not', () => {
  for (const code of ['57P01', '08006', '40001', '40P01']) assert.equal(isTransientDbError(Object.assign(new Error('x'), { code })), true, code)
  assert.equal(isTransientDbError(new Error('Connection terminated unexpectedly')), true)
  assert.equal(isTransientDbError(Object.assign(new Error('syntax error'), { code: '42601' })), false)
  assert.equal(isTransientDbError(Object.assign(new Error('duplicate key'), { code: '23505' })), false)
})

test('a storm of killed Postgres connections mid-sync spends no job attempt and loses or doubles nothing', { timeout: 120_000 }, async () => {
  const TOTAL = 4_000
  const app = await rig.build({ SYNC_RATE_LIMIT_STRIPE: '10/1s' }, { worker: true })
  const tenantId = randomUUID()
  const account = await rig.account('stripe')
  await rig.control('stripe', 'POST', `/_sim/accounts/${account.accountId}/seed`, { entity: 'customer', count: TOTAL })
  const connection = await rig.connect(app, { tenantId, provider: 'stripe', ...account })
  const { jobs } = await app.syncEngine.enqueueSync({ tenantId, venueId: connection.venueId, connectionId: connection.id, entities: ['customer'], mode: 'full', trigger: 'manual', queue: 'high' })
  const { syncLogId, jobId } = jobs[0] as { syncLogId: string; jobId: string }

  const deadline = Date.now() + 60_000
  while ((await rig.syncLog(syncLogId)).records_fetched < 500) {
    assert.ok(Date.now() < deadline, 'the run got going')
    await sleep(50)
  }
  // Four seconds of every backend of the service's role being killed, several times a second.
  let killed = 0
  const stormEnds = Date.now() + 4_000
  while (Date.now() < stormEnds) {
    const rows = await rig.db.adminQuery<{ ok: boolean }>('select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = $1 and usename = $2 and pid <> pg_backend_pid()', [rig.db.name, INTEGRATION_SCHEMA.appRole])
    killed += rows.filter((row) => row.ok).length
    await sleep(150)
  }
  assert.ok(killed >= 3, `the storm hit the service's connections (${killed} killed)`)

  const done = await rig.waitForLog(syncLogId, ['succeeded', 'partial', 'failed', 'cancelled'], 90_000)
  assert.deepEqual([done.status, done.error_code, done.records_fetched, done.records_created], ['succeeded', null, TOTAL, TOTAL])
  const [stats] = await rig.db.adminQuery<{ total: string; distinct_ids: string }>('select count(*) as total, count(distinct external_id) as distinct_ids from integration.records where connection_id = $1', [connection.id])
  assert.deepEqual(stats, { total: String(TOTAL), distinct_ids: String(TOTAL) })
  const job = await app.syncEngine.getJob(tenantId, jobId)
  assert.equal(job.state, 'completed')
  assert.equal(job.attemptsMade, 0, 'no attempt spent on the storm (Bull counts failed attempts only)')
})
