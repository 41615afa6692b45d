// Retention across processes: the integration-worker's clean-up on integration-low asks
// compliance-service (signed internal route, typed client) for the tenant's periods and holds
// before it purges, so a hold placed through the gateway keeps a venue's records of a
// disconnected connection, the others go, the run is audited in compliance-service's log, and
// releasing the hold lets the next run take the rest.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe } from 'node:test'
import { apiClient } from './support/hub.ts'
import { eventually, scenario, startStack, type Json } from './support/stack.ts'

const stack = await startStack({ env: { RETENTION_INTERVAL_MS: '1500', RETENTION_BATCH_PAUSE_MS: '0' } })
const as = apiClient(stack, stack.adminToken)
const DAY = 86_400_000

/** A connection of the run's tenant, disconnected `days` ago, holding `count` records. */
async function disconnectedWithRecords(venueId: string, days: number, count: number): Promise<string> {
  const id = randomUUID()
  await stack.db.adminQuery(`insert into integration.connections (id, tenant_id, venue_id, provider, auth_type, status, created_by, disconnected_at) values ($1, $2, $3, 'stripe', 'api_key', 'disconnected', 'e2e', $4)`, [
    id,
    stack.tenantId,
    venueId,
    new Date(Date.now() - days * DAY).toISOString(),
  ])
  await stack.db.adminQuery(
    `insert into integration.records (connection_id, entity, external_id, tenant_id, venue_id, provider, data, raw, content_hash)
     select $1, 'customer', 'cus_' || g, $2, $3, 'stripe', '{}'::jsonb, '{}'::jsonb, 'h' from generate_series(1, $4::int) g`,
    [id, stack.tenantId, venueId, count],
  )
  return id
}

const recordsOf = async (connectionId: string) => Number((await stack.db.adminQuery<{ n: string }>('select count(*) as n from integration.records where connection_id = $1', [connectionId]))[0]?.n)

describe('retention across processes', () => {
  scenario('the worker purges what compliance-service says is past its period and keeps what it says is held', async () => {
    const heldVenue = randomUUID()
    const hold = await as.POST('/api/v1/compliance/retention/holds', { body: { scope: 'venue', scopeId: heldVenue, reason: 'e2e matter' } })
    assert.equal(hold.response.status, 201, JSON.stringify(hold.error))
    const policy = await as.PUT('/api/v1/compliance/retention/policy', { body: { periods: { disconnectedRecords: 30 } } })
    assert.equal(policy.response.status, 200, JSON.stringify(policy.error))

    const held = await disconnectedWithRecords(heldVenue, 31, 5)
    const expired = await disconnectedWithRecords(randomUUID(), 31, 7)
    const recent = await disconnectedWithRecords(randomUUID(), 29, 3)

    await eventually('the expired records purged by the worker', 60_000, async () => ((await recordsOf(expired)) === 0 ? true : undefined), 250)
    assert.equal(await recordsOf(held), 5, 'the held venue keeps its records')
    assert.equal(await recordsOf(recent), 3, 'within the period')
    const run = await eventually('the run audited in compliance-service', 30_000, async () => {
      const { data } = await as.GET('/api/v1/compliance/audit-log', { params: { query: { entityType: 'retention_run' } } })
      return (data?.data as Json[] | undefined)?.find((entry) => entry.source === 'integration-service' && entry.after?.records === 7)
    })
    assert.equal(run.action, 'retention.purged')

    const released = await as.POST('/api/v1/compliance/retention/holds/{id}/release', { params: { path: { id: String(hold.data?.id) } } })
    assert.equal(released.response.status, 200, JSON.stringify(released.error))
    await eventually('the released venue purged at a later run', 60_000, async () => ((await recordsOf(held)) === 0 ? true : undefined), 250)
    assert.equal(await recordsOf(recent), 3)
  })
})
