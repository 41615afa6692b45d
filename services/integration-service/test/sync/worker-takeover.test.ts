// Fast takeover, on real processes with the production lock and stalled-check settings: a standby
// worker resumes the run of a worker killed with SIGKILL within 10 s, and every record is still
// written and counted once. A file of its own: the workers other files leave running until their
// end would reconcile this file's runs too.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { IntegrationServiceEnv } from '../../src/config.ts'
import { setupSyncRig } from './sync-rig.ts'

const rig = await setupSyncRig({ sims: { stripe: { recordsPerEntity: 5 } } })

test("with the default lock and stalled-check settings, another worker resumes a SIGKILLed worker's run within 10 s", { timeout: 120_000 }, async () => {
  const app = await rig.build()
  const tenantId = randomUUID()
  const account = await rig.account('stripe')
  const total = 12_000
  await rig.control('stripe', 'POST', `/_sim/accounts/${account.accountId}/seed`, { entity: 'customer', count: total })
  const connection = await rig.connect(app, { tenantId, provider: 'stripe', ...account })
  const { jobs } = await app.syncEngine.enqueueSync({ tenantId, venueId: connection.venueId, connectionId: connection.id, entities: ['customer'], mode: 'full', trigger: 'manual', queue: 'high' })
  const { syncLogId } = jobs[0] as { syncLogId: string }

  // The rig shortens these for its other tests; this one runs what production runs.
  const defaults = { SYNC_LOCK_DURATION_MS: String(IntegrationServiceEnv.properties.SYNC_LOCK_DURATION_MS.default), SYNC_STALLED_INTERVAL_MS: String(IntegrationServiceEnv.properties.SYNC_STALLED_INTERVAL_MS.default) }
  // Slow enough to be caught in the middle while the standby starts (12,000 records at 2 pages a second).
  const first = await rig.spawnWorker({ ...defaults, SYNC_RATE_LIMIT_STRIPE: '2/1s' })
  let deadline = Date.now() + 60_000
  while ((await rig.syncLog(syncLogId)).records_fetched < 300) {
    assert.ok(Date.now() < deadline, 'the first worker got going')
    await sleep(50)
  }
  // The standby is up before the crash, as in a deployment with several workers.
  await rig.spawnWorker({ ...defaults, SYNC_RATE_LIMIT_STRIPE: '1000/1s' })
  const beforeKill = await rig.syncLog(syncLogId)
  assert.ok(beforeKill.status === 'running' && beforeKill.records_fetched < total, `the first worker is still in the middle (${String(beforeKill.status)}, ${String(beforeKill.records_fetched)} fetched)`)
  first.kill('SIGKILL')
  const killedAt = Date.now()
  await once(first, 'exit')
  const atKill = (await rig.syncLog(syncLogId)).records_fetched as number
  deadline = Date.now() + 30_000
  let resumedAfterMs = 0
  for (;;) {
    const log = await rig.syncLog(syncLogId)
    if (log.records_fetched > atKill) {
      resumedAfterMs = Date.now() - killedAt
      break
    }
    assert.ok(Date.now() < deadline, 'the run was resumed')
    await sleep(50)
  }
  assert.ok(resumedAfterMs < 10_000, `resumed ${resumedAfterMs} ms after the kill`)

  const done = await rig.waitForLog(syncLogId, ['succeeded', 'partial', 'failed', 'cancelled'], 90_000)
  assert.deepEqual([done.status, done.records_fetched, done.records_created], ['succeeded', total, total])
  const [stats] = await rig.db.adminQuery<{ total: string; distinct_ids: string }>('select count(*) as total, count(distinct external_id) as distinct_ids from integration.records where connection_id = $1', [connection.id])
  assert.deepEqual(stats, { total: String(total), distinct_ids: String(total) })
})
