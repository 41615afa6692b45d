// Reconciliation across the real processes: the request goes through the gateway to
// integration-service, the integration-worker runs the job against the Stripe simulator, repair
// writes through the sync's path, and compliance-service's venue report asks integration-service
// (signed internal call) for the venue's latest reconciliation status. Every wait is a poll.
import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { hub } from './support/hub.ts'
import { eventually, scenario, startStack, type Json } from './support/stack.ts'

const RUN_DEADLINE_MS = 90_000

const stack = await startStack()
const api = hub(stack)

async function finishedRun(runId: string): Promise<Json> {
  return eventually(
    `reconciliation run ${runId} finished`,
    RUN_DEADLINE_MS,
    async () => {
      const detail = await api.ok('GET', `/api/v1/integrations/reconciliation/runs/${runId}?limit=1000`)
      return ['clean', 'drift', 'failed'].includes((detail.run as Json).status as string) ? detail : undefined
    },
    250,
  )
}

async function reconcileCustomers(venueId: string): Promise<Json> {
  const created = await api.ok('POST', '/api/v1/integrations/reconciliation/runs', { venueId, provider: 'stripe', entities: ['customer'] }, [202])
  return finishedRun((created.runs as Json[])[0]?.id as string)
}

describe('reconciliation', () => {
  scenario('a drifted connection is found through the gateway, repaired, and the venue report shows it clean', async () => {
    const venueId = await api.createVenue('E2E Reconciled Hall')
    const { connectionId, accountId } = await api.connectStripe(venueId)
    const sync = await api.startSync(venueId, ['customer'])
    assert.equal((await api.finishedSync(connectionId, sync.syncLogId, RUN_DEADLINE_MS)).status, 'succeeded')

    // Behind the hub's back: one customer created and one deleted at the provider, no webhook.
    const [created] = (await stack.sim('stripe', 'POST', `/_sim/accounts/${accountId}/customer`, { count: 1 })).ids as string[]
    const [, victim] = (await stack.sim('stripe', 'GET', `/_sim/accounts/${accountId}/customer`)).ids as string[]
    await stack.sim('stripe', 'DELETE', `/_sim/accounts/${accountId}/customer/${String(victim)}`)

    const drift = await reconcileCustomers(venueId)
    assert.equal((drift.run as Json).status, 'drift')
    const items = (drift.items as Json).data as Json[]
    assert.deepEqual(items.map((item) => [item.kind, item.externalId]).sort(), [
      ['missing_at_provider', victim],
      ['missing_in_hub', created],
    ])

    const repaired = await api.ok('POST', `/api/v1/integrations/reconciliation/runs/${String((drift.run as Json).id)}/repair`)
    assert.deepEqual([repaired.attempted, repaired.repaired], [2, 2])
    const clean = await reconcileCustomers(venueId)
    assert.equal((clean.run as Json).status, 'clean')

    const from = new Date(Date.now() - 3600_000).toISOString()
    const to = new Date(Date.now() + 3600_000).toISOString()
    const report = await api.ok('GET', `/api/v1/compliance/venues/${venueId}/report?from=${from}&to=${to}`)
    const entries = (report.reconciliation as Json).entries as Json[]
    assert.deepEqual(
      entries.map((entry) => [entry.connectionId, entry.entity, entry.status, entry.mismatches, entry.runId]),
      [[connectionId, 'customer', 'clean', 0, (clean.run as Json).id]],
    )
  })
})
