// Square webhook verification. Square signs `notification URL + raw body` with the
// subscription's signature key (HMAC-SHA256, base64, header `x-square-hmacsha256-signature`).
// The scheme has no signed timestamp header; the body's `created_at` is signed, so replays are
// bounded by it: Square retries a delivery for up to 24 hours (same body, same created_at), so
// events older than the replay window are refused as stale.
import { createHmac, timingSafeEqual } from 'node:crypto'
import { serialization, type Square } from 'square'
import type { CanonicalRecord, EntityName } from '../canonical.ts'
import type { NormalizedWebhookEvent, WebhookInput, WebhookSnapshot } from '../provider-adapter.ts'
import { WebhookVerificationError } from '../provider-errors.ts'
import { mapCustomer, mapPayment } from './square-mapper.ts'

export const SQUARE_SIGNATURE_HEADER = 'x-square-hmacsha256-signature'
/** Square's retry horizon (24 h) plus a margin. */
export const DEFAULT_REPLAY_WINDOW_SECONDS = 25 * 3_600
const DEFAULT_SKEW_SECONDS = 300

function header(headers: WebhookInput['headers'], name: string): string | undefined {
  const direct = headers[name] ?? Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1]
  return Array.isArray(direct) ? direct[0] : direct
}

export function squareSignature(secret: string, url: string, rawBody: Buffer): Buffer {
  return createHmac('sha256', secret).update(url, 'utf8').update(rawBody).digest()
}

function entityOf(type: string): EntityName | null {
  if (type.startsWith('customer.')) return 'customer'
  if (type.startsWith('payment.')) return 'payment'
  if (type.startsWith('catalog.')) return 'product'
  if (type.startsWith('invoice.')) return 'invoice'
  return null
}

interface SquareEventBody {
  merchant_id?: unknown
  type?: unknown
  event_id?: unknown
  created_at?: unknown
  data?: { type?: unknown; id?: unknown }
}

export function verifySquareWebhook(input: WebhookInput, replayWindowSeconds = DEFAULT_REPLAY_WINDOW_SECONDS, now = Date.now()): NormalizedWebhookEvent[] {
  const signature = header(input.headers, SQUARE_SIGNATURE_HEADER)
  if (!signature) throw new WebhookVerificationError('missing_signature', `Missing ${SQUARE_SIGNATURE_HEADER} header`)
  if (!input.secret) throw new WebhookVerificationError('bad_signature', 'No signature key stored for this subscription')
  const expected = squareSignature(input.secret, input.url, input.rawBody)
  const given = Buffer.from(signature.trim(), 'base64')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new WebhookVerificationError('bad_signature', 'Square webhook signature does not match (check the signature key and the exact notification URL)')
  }

  let event: SquareEventBody
  try {
    event = JSON.parse(input.rawBody.toString('utf8')) as SquareEventBody
  } catch {
    throw new WebhookVerificationError('malformed', 'Square webhook body is not JSON')
  }
  if (typeof event?.event_id !== 'string' || typeof event.type !== 'string' || typeof event.created_at !== 'string') {
    throw new WebhookVerificationError('malformed', 'Square webhook lacks event_id, type or created_at')
  }
  const createdAt = Date.parse(event.created_at)
  if (Number.isNaN(createdAt)) throw new WebhookVerificationError('malformed', 'Square webhook created_at is not a timestamp')
  // toleranceSeconds is clock skew: it widens both edges, it does not replace the replay window.
  const skew = (input.toleranceSeconds ?? DEFAULT_SKEW_SECONDS) * 1000
  if (now - createdAt > replayWindowSeconds * 1000 + skew) throw new WebhookVerificationError('stale', `Square event ${event.event_id} is older than the replay window`)
  if (createdAt - now > skew) throw new WebhookVerificationError('stale', `Square event ${event.event_id} is dated in the future`)

  const objectId = event.data?.id
  return [
    {
      eventId: event.event_id,
      type: event.type,
      entity: entityOf(event.type),
      externalId: typeof objectId === 'string' && objectId !== '' ? objectId : null,
      occurredAt: event.created_at,
      accountId: typeof event.merchant_id === 'string' ? event.merchant_id : null,
      raw: event,
    },
  ]
}

interface SquareSnapshotBody {
  type?: unknown
  created_at?: unknown
  data?: { id?: unknown; deleted?: unknown; object?: Record<string, unknown> | null }
}

const PARSE = { unrecognizedObjectKeys: 'passthrough', allowUnrecognizedEnumValues: true } as const

const isoOf = (value: unknown): string | null => (typeof value === 'string' && !Number.isNaN(Date.parse(value)) ? new Date(Date.parse(value)).toISOString() : null)

/**
 * The record a Square event carries: customer and payment events hold the object in
 * `data.object.<type>` with its `updated_at` (milliseconds), the version used; a deletion
 * (`customer.deleted`) is dated by the event. Catalog events name only a catalog version (thin).
 */
export function squareEventSnapshot(payload: unknown): WebhookSnapshot | null {
  if (!payload || typeof payload !== 'object') return null
  const event = payload as SquareSnapshotBody
  const externalId = event.data?.id
  if (typeof event.type !== 'string' || typeof externalId !== 'string' || externalId === '') return null
  const entity = entityOf(event.type)
  if (entity !== 'customer' && entity !== 'payment') return null
  const wire = event.data?.object?.[entity]
  const deleted = entity === 'customer' && (event.type === 'customer.deleted' || event.data?.deleted === true)
  const version = (!deleted && wire && typeof wire === 'object' ? isoOf((wire as { updated_at?: unknown }).updated_at) : null) ?? isoOf(event.created_at)
  if (!version) return null
  if (deleted) return { entity, externalId, version, precisionMs: 1, record: null }
  if (!wire || typeof wire !== 'object' || (wire as { id?: unknown }).id !== externalId) return null
  try {
    const record: CanonicalRecord = entity === 'customer' ? mapCustomer(serialization.Customer.parseOrThrow(wire, PARSE) as Square.Customer) : mapPayment(serialization.Payment.parseOrThrow(wire, PARSE) as Square.Payment)
    return { entity, externalId, version, precisionMs: 1, record }
  } catch {
    return null
  }
}
