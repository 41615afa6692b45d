// Honest answers while Redis is down: integration-service pointed at a port where nothing
// listens answers within a second — a sync request is accepted durably (202, the run stored as
// queued in Postgres, enqueued by the worker's reconciler once Redis is back), a conflicting one
// and a signed internal call are refused fast with 503 and Retry-After — and never hangs.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { bearer, testToken } from '@hub/service-kit/testing'
import { signedAs } from '../helpers.ts'
import { setupSyncRig } from './sync-rig.ts'

const DEAD_REDIS = 'redis://127.0.0.1:1'
const rig = await setupSyncRig({ sims: { stripe: { recordsPerEntity: 5 } } })

async function timed<T>(call: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now()
  const value = await call()
  return { value, ms: performance.now() - started }
}

test('with Redis unreachable a sync request is accepted durably within a second, and runs exactly once when Redis is back', { timeout: 60_000 }, async () => {
  const down = await rig.build({ REDIS_URL: DEAD_REDIS })
  const tenantId = randomUUID()
  const account = await rig.account('stripe')
  await rig.control('stripe', 'POST', `/_sim/accounts/${account.accountId}/seed`, { entity: 'customer', count: 120 })
  const connection = await rig.connect(down, { tenantId, provider: 'stripe', ...account })
  const headers = bearer(testToken({ tenantId, roles: ['admin'] }))

  // A freshly built app on a busy box can be briefly under pressure; that is not what is measured here.
  while ((await down.inject({ url: '/health' })).statusCode !== 200) await sleep(100)
  const request = () => down.inject({ method: 'POST', url: '/api/v1/integrations/sync/stripe/sync', headers, payload: { venueId: connection.venueId, entities: ['customer'], mode: 'full' } })
  const accepted = await timed(request)
  assert.equal(accepted.value.statusCode, 202, accepted.value.body)
  assert.ok(accepted.ms < 1_500, `accepted in ${Math.round(accepted.ms)} ms`)
  const [job] = accepted.value.json().jobs as Array<{ jobId: string; syncLogId: string }>
  assert.ok(job)
  assert.equal((await rig.syncLog(job.syncLogId)).status, 'queued', 'the run is stored in Postgres')

  // The job's state still answers, from its sync log.
  const state = await timed(() => down.inject({ url: `/api/v1/integrations/sync/jobs/${job.jobId}`, headers }))
  assert.deepEqual([state.value.statusCode, state.value.json().state], [200, 'waiting'], state.value.body)
  assert.ok(state.ms < 1_500, `job state in ${Math.round(state.ms)} ms`)

  // Whether the queued run is alive is Redis's to say: a second request is refused fast, not hung.
  const refused = await timed(request)
  assert.equal(refused.value.statusCode, 503, refused.value.body)
  assert.equal(refused.value.json().code, 'QUEUE_UNAVAILABLE')
  assert.equal(refused.value.headers['retry-after'], '1')
  assert.ok(refused.ms < 1_500, `refused in ${Math.round(refused.ms)} ms`)

  // Internal calls: the nonce store is down, so freshness cannot be proven — refused (fail closed).
  const path = `/internal/sync-logs/venue/${connection.venueId}?tenantId=${tenantId}&limit=10`
  const internal = await timed(() => down.inject({ method: 'GET', url: path, headers: signedAs('compliance-service', 'GET', path) }))
  assert.equal(internal.value.statusCode, 503, internal.value.body)
  assert.equal(internal.value.json().code, 'INTERNAL_AUTH_NONCE_STORE_UNAVAILABLE')
  assert.ok(internal.ms < 1_500, `internal call refused in ${Math.round(internal.ms)} ms`)

  // Redis is back (a worker on the real one): the reconciler enqueues the accepted run.
  const worker = await rig.build({}, { worker: true })
  const deadline = Date.now() + 20_000
  while ((await worker.syncEngineInternals.reconciler.reconcileRuns()) === 0) {
    assert.ok(Date.now() < deadline, 'the reconciler enqueued the accepted run')
    await sleep(250)
  }
  const done = await rig.waitForLog(job.syncLogId)
  assert.deepEqual([done.status, done.records_fetched, done.records_created], ['succeeded', 120, 120])
  const logs = await rig.db.adminQuery<{ id: string }>("select id from integration.sync_logs where connection_id = $1 and trigger <> 'scheduled'", [connection.id])
  assert.deepEqual(
    logs.map((row) => row.id),
    [job.syncLogId],
    'one run, as accepted',
  )
})
