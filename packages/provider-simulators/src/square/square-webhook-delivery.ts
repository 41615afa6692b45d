// Builds and delivers webhook events exactly as Square does: a JSON event posted to the
// subscription's notification URL, signed in `x-square-hmacsha256-signature` with
// base64(HMAC-SHA256(signature_key, notification_url + raw body)). The legacy SHA-1 header is
// sent too, since Square still sends it.
import { createHmac, randomUUID } from 'node:crypto'
import { invalid, notFound } from './square-errors.ts'
import { iso } from './square-fixtures.ts'
import type { SquareAccount } from './square-store.ts'
import type { SquareCustomer } from './square-types.ts'

export const SUPPORTED_EVENT_TYPES: readonly string[] = ['customer.created', 'customer.updated', 'customer.deleted', 'payment.created', 'payment.updated', 'catalog.version.updated']

export function signSquareWebhook(signatureKey: string, notificationUrl: string, rawBody: string): string {
  return createHmac('sha256', signatureKey)
    .update(notificationUrl + rawBody)
    .digest('base64')
}

function legacySignature(signatureKey: string, notificationUrl: string, rawBody: string): string {
  return createHmac('sha1', signatureKey)
    .update(notificationUrl + rawBody)
    .digest('base64')
}

export interface SquareEvent {
  merchant_id: string
  type: string
  event_id: string
  created_at: string
  data: { type: string; id: string; deleted?: boolean; object: Record<string, unknown> }
}

function latestCustomer(account: SquareAccount): SquareCustomer | undefined {
  let latest: SquareCustomer | undefined
  for (const customer of account.customers.values()) if (!latest || customer.updated_at > latest.updated_at) latest = customer
  return latest
}

/** The event Square would send for `type` about `objectId` (or the most recently changed object). */
export function buildEvent(account: SquareAccount, type: string, objectId: string | undefined, now: number): SquareEvent {
  if (!SUPPORTED_EVENT_TYPES.includes(type)) throw invalid('INVALID_VALUE', `Unsupported event type ${type}; supported: ${SUPPORTED_EVENT_TYPES.join(', ')}`, 'type')
  const base = { merchant_id: account.id, type, event_id: randomUUID(), created_at: iso(now) }
  if (type.startsWith('customer.')) {
    const deleted = type === 'customer.deleted'
    const customer = objectId ? (account.customers.get(objectId) ?? (deleted ? account.deletedCustomers.get(objectId) : undefined)) : deleted ? [...account.deletedCustomers.values()].at(-1) : latestCustomer(account)
    if (!customer) throw notFound(`Customer ${objectId ?? '(any)'} not found for ${type}.`)
    return { ...base, data: { type: 'customer', id: customer.id, ...(deleted ? { deleted: true } : {}), object: { customer } } }
  }
  if (type.startsWith('payment.')) {
    const payment = objectId ? account.payments.get(objectId) : [...account.payments.values()].sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1))[0]
    if (!payment) throw notFound(`Payment ${objectId ?? '(any)'} not found for ${type}.`)
    return { ...base, data: { type: 'payment', id: payment.id, object: { payment } } }
  }
  let latest = 0
  for (const object of account.catalog.values()) latest = Math.max(latest, Date.parse(object.updated_at))
  return { ...base, data: { type: 'catalog_version', id: '', object: { catalog_version: { updated_at: iso(latest) } } } }
}

export interface DeliveryTarget {
  url: string
  signatureKey: string
  subscriptionId: string | null
}

export interface DeliveryResult {
  subscriptionId: string | null
  url: string
  headers: Record<string, string>
  body: string
  status: number | null
  error?: string
}

export async function deliver(event: SquareEvent, target: DeliveryTarget, timeoutMs = 5_000): Promise<DeliveryResult> {
  const body = JSON.stringify(event)
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'Square Connect v2',
    'square-environment': 'Production',
    'square-initial-delivery-timestamp': event.created_at,
    'square-retry-number': '0',
    'x-square-hmacsha256-signature': signSquareWebhook(target.signatureKey, target.url, body),
    'x-square-signature': legacySignature(target.signatureKey, target.url, body),
  }
  try {
    const response = await fetch(target.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) })
    await response.arrayBuffer()
    return { subscriptionId: target.subscriptionId, url: target.url, headers, body, status: response.status }
  } catch (error) {
    return { subscriptionId: target.subscriptionId, url: target.url, headers, body, status: null, error: error instanceof Error ? error.message : String(error) }
  }
}
