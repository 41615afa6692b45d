// Every audited action, taken through the gateway, reaches compliance-service's hash-chained audit
// log (relayed from venue- and integration-service outboxes by separate processes), and the chain
// verifies.
import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { eventually, scenario, startStack, type Json } from './support/stack.ts'

/** The README promises audit events are relayed within a second; the test allows 5 s on a busy box. */
const AUDIT_DEADLINE_MS = 5_000

const stack = await startStack()

async function auditEntries(entityId: string): Promise<Json[]> {
  const { status, body } = await stack.api('GET', `/api/v1/compliance/audit-log?entityId=${entityId}&limit=500`)
  assert.equal(status, 200, JSON.stringify(body))
  return body.data as Json[]
}

/** Waits until the entity's audit trail holds `action` (once), and returns it. */
async function audited(entityId: string, action: string): Promise<Json> {
  return eventually(`${action} of ${entityId} in the audit log`, AUDIT_DEADLINE_MS, async () => {
    const matching = (await auditEntries(entityId)).filter((entry) => entry.action === action)
    assert.ok(matching.length <= 1, `${action} appears ${matching.length} times`)
    return matching[0]
  })
}

describe('audit log across processes', () => {
  scenario('every audited action reaches the audit log within 5 s and the chain verifies', async () => {
    const created = await stack.api('POST', '/api/v1/venues', { body: { name: 'E2E Audit Hall', timezone: 'Europe/London', currency: 'GBP' } })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const venueId = created.body.id as string
    const entry = await audited(venueId, 'venue.created')
    assert.deepEqual([entry.source, entry.actorId, entry.entityType], ['venue-service', 'e2e-admin', 'venue'])
    assert.ok(entry.requestId, 'the request id travels with the event')

    const updated = await stack.api('PATCH', `/api/v1/venues/${venueId}`, { body: { name: 'E2E Audit Hall (renamed)' } })
    assert.equal(updated.status, 200, JSON.stringify(updated.body))
    const update = await audited(venueId, 'venue.updated')
    assert.equal(update.after.name, 'E2E Audit Hall (renamed)')

    const apiKey = 'sk_test_e2eaudit0000000000000001'
    const connection = await stack.api('POST', '/api/v1/integrations/connections', { body: { venueId, provider: 'stripe', credentials: { apiKey } } })
    assert.equal(connection.status, 201, JSON.stringify(connection.body))
    const connectionId = connection.body.id as string
    const connect = await audited(connectionId, 'connection.created')
    assert.ok(!JSON.stringify(connect).includes(apiKey), 'the audit image carries no secret')

    const tested = await stack.api('POST', `/api/v1/integrations/connections/${connectionId}/test`)
    assert.equal(tested.status, 200, JSON.stringify(tested.body))
    await audited(connectionId, 'connection.tested')

    const settings = await stack.api('PATCH', '/api/v1/integrations/settings/stripe', { body: { settings: { syncSchedule: 'daily' } } })
    assert.equal(settings.status, 200, JSON.stringify(settings.body))
    const settingsEntry = await eventually('settings.updated in the audit log', AUDIT_DEADLINE_MS, async () => {
      const { body } = await stack.api('GET', '/api/v1/compliance/audit-log?action=settings.updated&limit=10')
      return (body.data as Json[])[0]
    })
    assert.equal(settingsEntry.source, 'integration-service')

    const disconnected = await stack.api('DELETE', `/api/v1/integrations/connections/${connectionId}`)
    assert.ok([200, 204].includes(disconnected.status), JSON.stringify(disconnected.body))
    await audited(connectionId, 'connection.disconnected')

    const deleted = await stack.api('DELETE', `/api/v1/venues/${venueId}`)
    assert.ok([200, 204].includes(deleted.status), JSON.stringify(deleted.body))
    await audited(venueId, 'venue.deleted')

    const verify = await stack.api('GET', '/api/v1/compliance/audit-log/verify')
    assert.equal(verify.status, 200, JSON.stringify(verify.body))
    assert.equal(verify.body.ok, true, JSON.stringify(verify.body))
    assert.ok(verify.body.checked >= 7, `checked ${verify.body.checked} entries`)
  })
})
