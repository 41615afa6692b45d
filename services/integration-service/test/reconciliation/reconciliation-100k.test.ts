// A full reconciliation of 100,000 unchanged Stripe customers reports zero mismatches: the hash
// the run computes is the sync's, record for record, and nothing is missed across 1,000 pages.
// The simulator is seeded in bulk; the hub's copy comes from a real full sync.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { setupSyncRig } from '../sync/sync-rig.ts'

const RECORDS = 100_000

test('a full run over 100,000 unchanged records reports zero mismatches', { timeout: 600_000 }, async () => {
  const rig = await setupSyncRig({ sims: { stripe: { recordsPerEntity: 0 } } })
  const app = await rig.build({ MAX_EVENT_LOOP_DELAY_MS: '0', SYNC_RATE_LIMIT_STRIPE: '100000/1s' }, { worker: true })
  const tenantId = randomUUID()
  const account = await rig.account('stripe')
  await rig.control('stripe', 'POST', `/_sim/accounts/${account.accountId}/seed`, { entity: 'customer', count: RECORDS })
  const connection = await rig.connect(app, { tenantId, provider: 'stripe', ...account })
  const { jobs } = await app.syncEngine.enqueueSync({ tenantId, venueId: connection.venueId, connectionId: connection.id, entities: ['customer'], mode: 'full', trigger: 'manual', queue: 'high' })
  const log = await rig.waitForLog((jobs[0] as { syncLogId: string }).syncLogId, undefined, 480_000)
  assert.equal(log.status, 'succeeded')
  assert.equal(log.records_created, RECORDS)

  const { runs, engine } = app.reconciliationInternals
  const run = await app.db.withTenant(tenantId, (trx) => runs.insert(trx, { tenantId, venueId: connection.venueId, connectionId: connection.id, provider: 'stripe', entity: 'customer', mode: 'full', trigger: 'manual' }))
  const done = await engine.run(tenantId, run.id)
  assert.equal(done.status, 'clean')
  assert.deepEqual([done.provider_count, done.hub_count, done.missing_in_hub, done.missing_at_provider, done.changed, done.amount_mismatch], [RECORDS, RECORDS, 0, 0, 0, 0])
  assert.equal(done.pages, RECORDS / 100)
  const [items] = await rig.db.adminQuery<{ count: string }>('select count(*) from integration.reconciliation_items where run_id = $1', [run.id])
  assert.equal(Number(items?.count), 0)
})
