// Verifies Stripe's `Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]` on the raw body
// (HMAC-SHA256 of `<t>.<body>` under the endpoint's whsec_ secret), then normalizes the event.
import { createHmac, timingSafeEqual } from 'node:crypto'
import type Stripe from 'stripe'
import type { EntityName } from '../canonical.ts'
import type { NormalizedWebhookEvent, WebhookInput, WebhookSnapshot } from '../provider-adapter.ts'
import { WebhookVerificationError } from '../provider-errors.ts'
import { mapCharge, mapCustomer, mapProduct } from './stripe-mapper.ts'

export const DEFAULT_TOLERANCE_SECONDS = 300

function headerValue(headers: WebhookInput['headers'], name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue
    return Array.isArray(value) ? value[0] : value
  }
  return undefined
}

function parseSignatureHeader(header: string): { timestamp: number; signatures: string[] } {
  let timestamp = Number.NaN
  const signatures: string[] = []
  for (const part of header.split(',')) {
    const eq = part.indexOf('=')
    if (eq === -1) continue
    const name = part.slice(0, eq).trim()
    const value = part.slice(eq + 1).trim()
    if (name === 't' && /^\d+$/.test(value)) timestamp = Number(value)
    // Several v1 entries appear while a secret is being rolled; any one may match.
    if (name === 'v1') signatures.push(value)
  }
  return { timestamp, signatures }
}

function matches(expectedHex: string, candidate: string): boolean {
  if (!/^[0-9a-f]+$/i.test(candidate) || candidate.length !== expectedHex.length) return false
  return timingSafeEqual(Buffer.from(expectedHex, 'hex'), Buffer.from(candidate.toLowerCase(), 'hex'))
}

interface RawEvent {
  id?: unknown
  object?: unknown
  type?: unknown
  created?: unknown
  account?: unknown
  data?: { object?: Record<string, unknown> }
}

function idOf(value: unknown): string | null {
  if (typeof value === 'string') return value
  if (value && typeof value === 'object' && typeof (value as { id?: unknown }).id === 'string') return (value as { id: string }).id
  return null
}

/** Which hub entity an event concerns, and that record's id (prices belong to their product). */
export function eventSubject(type: string, object: Record<string, unknown>): { entity: EntityName | null; externalId: string | null } {
  if (/^customer\.(created|updated|deleted)$/.test(type)) return { entity: 'customer', externalId: idOf(object.id) }
  if (/^product\./.test(type)) return { entity: 'product', externalId: idOf(object.id) }
  if (/^price\./.test(type)) return { entity: 'product', externalId: idOf(object.product) }
  if (/^charge\.(succeeded|failed|pending|captured|refunded|updated|expired)$/.test(type)) return { entity: 'payment', externalId: idOf(object.id) }
  if (/^(refund\.|charge\.refund\.)/.test(type)) return { entity: 'payment', externalId: idOf(object.charge) }
  if (/^payment_intent\./.test(type)) return { entity: 'payment', externalId: idOf(object.latest_charge) }
  return { entity: null, externalId: idOf(object.id) }
}

/** Unix seconds to ISO, or null for anything that is not a date in years 0001-9999. */
function occurredAtOf(created: unknown): string | null {
  if (typeof created !== 'number' || !Number.isFinite(created)) return null
  const date = new Date(created * 1000)
  const year = date.getUTCFullYear()
  return Number.isNaN(date.getTime()) || year < 1 || year > 9999 ? null : date.toISOString()
}

export function verifyStripeWebhook(input: WebhookInput, now = Date.now()): NormalizedWebhookEvent[] {
  const header = headerValue(input.headers, 'stripe-signature')
  if (!header) throw new WebhookVerificationError('missing_signature', 'No Stripe-Signature header')
  const { timestamp, signatures } = parseSignatureHeader(header)
  if (!Number.isFinite(timestamp)) throw new WebhookVerificationError('malformed', 'Stripe-Signature has no timestamp')
  if (signatures.length === 0) throw new WebhookVerificationError('missing_signature', 'Stripe-Signature has no v1 signature')
  const expected = createHmac('sha256', input.secret).update(`${timestamp}.`, 'utf8').update(input.rawBody).digest('hex')
  if (!signatures.some((candidate) => matches(expected, candidate))) throw new WebhookVerificationError('bad_signature', 'No v1 signature matches the payload')
  const tolerance = input.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS
  // Checked after the signature (t is signed) and both ways, so a replay cannot be post-dated either.
  if (Math.abs(Math.floor(now / 1000) - timestamp) > tolerance) throw new WebhookVerificationError('stale', `Timestamp outside the ${tolerance}s tolerance`)

  let event: RawEvent
  try {
    event = JSON.parse(input.rawBody.toString('utf8')) as RawEvent
  } catch {
    throw new WebhookVerificationError('malformed', 'Body is not JSON')
  }
  if (!event || typeof event.id !== 'string' || event.object !== 'event' || typeof event.type !== 'string' || !event.data?.object) {
    throw new WebhookVerificationError('malformed', 'Body is not a Stripe event')
  }
  const { entity, externalId } = eventSubject(event.type, event.data.object)
  return [
    {
      eventId: event.id,
      type: event.type,
      entity,
      externalId,
      occurredAt: occurredAtOf(event.created),
      accountId: typeof event.account === 'string' ? event.account : null,
      raw: event,
    },
  ]
}

/**
 * The record a Stripe event carries: a snapshot event's `data.object` is the whole object as of
 * the event (`created`, whole seconds). Customers, charges, and products whose price is expanded
 * or absent map straight from it; price, refund and payment-intent events name a record they do
 * not carry (thin: null), as does anything that does not map.
 */
export function stripeEventSnapshot(payload: unknown): WebhookSnapshot | null {
  if (!payload || typeof payload !== 'object') return null
  const event = payload as RawEvent
  const object = event.data?.object
  const version = occurredAtOf(event.created)
  if (typeof event.type !== 'string' || !object || typeof object !== 'object' || !version) return null
  const { entity, externalId } = eventSubject(event.type, object)
  if (!entity || !externalId || object.id !== externalId) return null
  const base = { entity, externalId, version, precisionMs: 1_000 }
  try {
    if (entity === 'customer' && object.object === 'customer') {
      return { ...base, record: event.type === 'customer.deleted' || object.deleted === true ? null : mapCustomer(object as unknown as Stripe.Customer) }
    }
    if (entity === 'payment' && object.object === 'charge') return { ...base, record: mapCharge(object as unknown as Stripe.Charge) }
    if (entity === 'product' && object.object === 'product') {
      if (event.type === 'product.deleted') return { ...base, record: null }
      // An id-only default_price would leave the amount unknown: the provider has it.
      if (object.default_price === null || object.default_price === undefined || typeof object.default_price === 'object') return { ...base, record: mapProduct(object as unknown as Stripe.Product) }
    }
  } catch {
    // A shape the mapper cannot read: the provider's copy will do.
  }
  return null
}
