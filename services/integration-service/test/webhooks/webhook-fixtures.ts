// Connections written straight through the repository (no provider round trip), and deliveries
// signed the way each provider signs them, for the webhook intake tests.
import { createHmac, randomUUID } from 'node:crypto'
import type { ServiceInstance } from '@hub/service-kit'
import type { ProviderName } from '../../src/providers/canonical.ts'

export interface SeededConnection {
  id: string
  tenantId: string
  venueId: string
}

export async function seedConnection(
  app: ServiceInstance,
  options: { provider: ProviderName; webhookSecret?: string; accountId?: string | null; webhookEndpointId?: string | null; tenantId?: string; venueId?: string; authType?: 'api_key' | 'oauth2' },
): Promise<SeededConnection> {
  const id = randomUUID()
  const tenantId = options.tenantId ?? randomUUID()
  const venueId = options.venueId ?? randomUUID()
  await app.db.withTenant(tenantId, async (trx) => {
    const sealed = app.vault.seal(tenantId, id, options.webhookSecret ? { webhookSecret: options.webhookSecret } : {})
    await app.connections.insert(trx, { id, tenantId, venueId, provider: options.provider, authType: options.authType ?? 'api_key', createdBy: 'test-user', sealed })
    await app.connections.update(trx, id, { status: 'active', accountId: options.accountId ?? null, webhookEndpointId: options.webhookEndpointId ?? null })
  })
  return { id, tenantId, venueId }
}

/** `2009-03-26 21:35:57`, UTC, as Mailchimp writes `fired_at`. */
export function mailchimpFiredAt(ms = Date.now()): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ')
}

export function mailchimpForm(fields: Record<string, string>): string {
  return new URLSearchParams({ type: 'subscribe', fired_at: mailchimpFiredAt(), ...fields }).toString()
}

export function stripeDelivery(secret: string, event: { id?: string; type?: string; account?: string; objectId?: string } = {}): { headers: Record<string, string>; payload: string } {
  const created = Math.floor(Date.now() / 1000)
  const payload = JSON.stringify({
    id: event.id ?? `evt_${randomUUID().replaceAll('-', '')}`,
    object: 'event',
    type: event.type ?? 'customer.updated',
    created,
    ...(event.account ? { account: event.account } : {}),
    data: { object: { id: event.objectId ?? 'cus_test0001', object: 'customer' } },
  })
  const signature = createHmac('sha256', secret).update(`${created}.${payload}`).digest('hex')
  return { headers: { 'content-type': 'application/json', 'stripe-signature': `t=${created},v1=${signature}` }, payload }
}

export function squareDelivery(signatureKey: string, notificationUrl: string, event: { merchantId?: string; id?: string } = {}): { headers: Record<string, string>; payload: string } {
  const payload = JSON.stringify({
    merchant_id: event.merchantId ?? 'MERCHANT0001',
    type: 'customer.updated',
    event_id: event.id ?? randomUUID(),
    created_at: new Date().toISOString(),
    data: { type: 'customer', id: 'CUSTOMER0001', object: {} },
  })
  const signature = createHmac('sha256', signatureKey).update(notificationUrl).update(payload).digest('base64')
  return { headers: { 'content-type': 'application/json', 'x-square-hmacsha256-signature': signature }, payload }
}

export function intuitDelivery(verifier: string, realmIds: string[], entityId = '1'): { headers: Record<string, string>; payload: string } {
  const lastUpdated = new Date().toISOString()
  const payload = JSON.stringify({
    eventNotifications: realmIds.map((realmId) => ({ realmId, dataChangeEvent: { entities: [{ name: 'Customer', id: entityId, operation: 'Update', lastUpdated }] } })),
  })
  return { headers: { 'content-type': 'application/json', 'intuit-signature': createHmac('sha256', verifier).update(payload).digest('base64') }, payload }
}
