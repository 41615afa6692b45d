// Security-relevant refusals made on purpose at each service, and how the stored events are read
// back through the gateway: the tenant admin's list, and the operator's tenantless (system) list.
import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import type { E2EStack, Json } from './stack.ts'

/** One refusal by a user of the run's tenant, told apart from every other by its actor. */
export interface TenantRefusal {
  source: string
  code: string
  actor: string
}

/** Refuses one request at the gateway, venue- and integration-service, each by a new viewer. */
export async function refuseAtEachService(stack: E2EStack, tag: string): Promise<TenantRefusal[]> {
  const run = `${tag}-${randomUUID().slice(0, 8)}`
  const viewer = (sub: string) => stack.token({ roles: ['viewer'], sub })
  const refusals: TenantRefusal[] = [
    { source: 'api-gateway', code: 'INTERNAL_ROUTE_PROBE', actor: `e2e-prober-${run}` },
    { source: 'venue-service', code: 'INSUFFICIENT_ROLE', actor: `e2e-viewer-v-${run}` },
    { source: 'integration-service', code: 'INSUFFICIENT_ROLE', actor: `e2e-viewer-i-${run}` },
  ]
  const [gateway, venue, integration] = refusals as [TenantRefusal, TenantRefusal, TenantRefusal]
  const probe = await stack.api('GET', '/api/v1/internal/sync-logs', { token: viewer(gateway.actor) })
  assert.equal(probe.status, 404, JSON.stringify(probe.body))
  const venueRefused = await stack.api('POST', '/api/v1/venues', { token: viewer(venue.actor), body: { name: 'Nope', timezone: 'Europe/London', currency: 'GBP' } })
  assert.equal(venueRefused.status, 403, JSON.stringify(venueRefused.body))
  const connection = await stack.api('POST', '/api/v1/integrations/connections', { token: viewer(integration.actor), body: { venueId: randomUUID(), provider: 'stripe', credentials: { apiKey: 'sk_test_e2erefusal00000000000001' } } })
  assert.equal(connection.status, 403, JSON.stringify(connection.body))
  return refusals
}

/**
 * A forged internal call straight to integration-service (never through the gateway): it claims to
 * be compliance-service but its signature is made up. Refused with 401 and a tenantless event.
 */
export async function forgeInternalCall(stack: E2EStack): Promise<void> {
  const response = await fetch(`${stack.serviceUrl('integration-service')}/internal/sync-logs`, {
    headers: {
      'x-internal-service': 'compliance-service',
      'x-internal-key-id': 'k1',
      'x-internal-timestamp': String(Math.floor(Date.now() / 1000)),
      'x-internal-nonce': randomBytes(16).toString('hex'),
      'x-internal-signature': `v1=${'0'.repeat(64)}`,
    },
    signal: AbortSignal.timeout(30_000),
  })
  await response.body?.cancel()
  assert.equal(response.status, 401)
}

/** The run tenant's security events (or, with `system`, the tenantless ones the operator sees). */
export async function securityEvents(stack: E2EStack, scope: 'tenant' | 'system' = 'tenant'): Promise<Json[]> {
  const { status, body } = await stack.api('GET', `/api/v1/compliance/security-events?limit=500${scope === 'system' ? '&scope=system' : ''}`)
  assert.equal(status, 200, JSON.stringify(body))
  return body.data as Json[]
}

/** Refusals folded into stored events: the sum of their counts. */
export async function storedCount(stack: E2EStack, scope: 'tenant' | 'system', source: string, code: string): Promise<number> {
  return (await securityEvents(stack, scope)).filter((event) => event.source === source && event.code === code).reduce((sum, event) => sum + (event.count as number), 0)
}

/** The stored events of these refusals when each is there, else undefined (for `eventually`). */
export async function refusalsListed(stack: E2EStack, refusals: TenantRefusal[]): Promise<Json[] | undefined> {
  const events = await securityEvents(stack)
  const found = refusals.map((refusal) => events.filter((event) => event.source === refusal.source && event.code === refusal.code && event.actor === refusal.actor))
  if (found.some((matches) => matches.length === 0)) return undefined
  for (const matches of found)
    assert.deepEqual(
      matches.map((event) => event.count),
      [1],
      `one event counting one refusal: ${JSON.stringify(matches)}`,
    )
  return found.flat()
}
