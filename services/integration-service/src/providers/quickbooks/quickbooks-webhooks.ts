// Intuit webhook verification. `intuit-signature` is base64(HMAC-SHA256(verifier token, raw
// body)); the scheme has no signed timestamp, so staleness is judged on the newest `lastUpdated`
// inside the (signed) body, with a generous limit because Intuit retries failed deliveries for
// hours. Intuit sends no event id, so ids are a hash of realm, entity, id, operation and
// lastUpdated: a retried delivery of the same change gets the same id.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { EntityName } from '../canonical.ts'
import type { NormalizedWebhookEvent, WebhookInput } from '../provider-adapter.ts'
import { WebhookVerificationError } from '../provider-errors.ts'
import { toUtcIso } from './quickbooks-mapper.ts'

export const SIGNATURE_HEADER = 'intuit-signature'
export const DEFAULT_WEBHOOK_MAX_AGE_SECONDS = 24 * 3600

const ENTITY_OF: Record<string, EntityName> = { customer: 'customer', invoice: 'invoice', payment: 'payment', item: 'product' }

function headerValue(headers: WebhookInput['headers'], name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue
    return Array.isArray(value) ? value[0] : value
  }
  return undefined
}

export function intuitSignature(verifierToken: string, rawBody: Buffer | string): string {
  return createHmac('sha256', verifierToken).update(rawBody).digest('base64')
}

export function webhookEventId(realmId: string, entity: string, id: string, operation: string, lastUpdated: string): string {
  return createHash('sha256').update([realmId, entity, id, operation, lastUpdated].join('\u0000')).digest('hex')
}

function checkSignature(input: WebhookInput): void {
  const signature = headerValue(input.headers, SIGNATURE_HEADER)?.trim()
  if (!signature) throw new WebhookVerificationError('missing_signature', 'intuit-signature header is missing')
  if (!input.secret) throw new WebhookVerificationError('bad_signature', 'no webhook verifier token is configured for this connection')
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(signature)) throw new WebhookVerificationError('bad_signature', 'intuit-signature is not base64')
  const expected = createHmac('sha256', input.secret).update(input.rawBody).digest()
  const provided = Buffer.from(signature, 'base64')
  if (provided.length !== expected.length || !timingSafeEqual(provided, expected)) {
    throw new WebhookVerificationError('bad_signature', 'intuit-signature does not match the body')
  }
}

function malformed(message: string): never {
  throw new WebhookVerificationError('malformed', message)
}

interface ParsedChange {
  realmId: string
  name: string
  id: string
  operation: string
  lastUpdated: string
  occurredAt: string | null
  raw: unknown
  eventId: string
}

function parseLegacy(body: Record<string, unknown>): ParsedChange[] {
  const notifications = body.eventNotifications
  if (!Array.isArray(notifications)) return malformed('eventNotifications is not an array')
  const changes: ParsedChange[] = []
  for (const notification of notifications) {
    const realmId = (notification as { realmId?: unknown })?.realmId
    const entities = (notification as { dataChangeEvent?: { entities?: unknown } })?.dataChangeEvent?.entities
    if (typeof realmId !== 'string' || !Array.isArray(entities)) return malformed('notification without realmId or dataChangeEvent.entities')
    for (const change of entities as Array<Record<string, unknown>>) {
      const { name, id, operation, lastUpdated } = change ?? {}
      if (typeof name !== 'string' || typeof id !== 'string' || typeof operation !== 'string' || typeof lastUpdated !== 'string') {
        return malformed('entity change without name, id, operation or lastUpdated')
      }
      changes.push({
        realmId,
        name,
        id,
        operation,
        lastUpdated,
        occurredAt: toUtcIso(lastUpdated),
        raw: { realmId, ...change },
        eventId: webhookEventId(realmId, name, id, operation, lastUpdated),
      })
    }
  }
  return changes
}

const CLOUD_OPERATIONS: Record<string, string> = { created: 'Create', updated: 'Update', deleted: 'Delete', merged: 'Merge', voided: 'Void', emailed: 'Emailed' }

/** Intuit's newer CloudEvents payload (an array; `type` like `qbo.customer.updated.v1`) carries its own ids. */
function parseCloudEvents(events: unknown[]): ParsedChange[] {
  return events.map((event) => {
    const e = (event ?? {}) as Record<string, unknown>
    const type = typeof e.type === 'string' ? e.type : ''
    const match = /^qbo\.([a-z]+)\.([a-z]+)\.v\d+$/i.exec(type)
    if (typeof e.id !== 'string' || !match || typeof e.intuitaccountid !== 'string' || typeof e.intuitentityid !== 'string' || typeof e.time !== 'string') {
      return malformed('CloudEvent without id, type, intuitaccountid, intuitentityid or time')
    }
    const name = (match[1] as string).charAt(0).toUpperCase() + (match[1] as string).slice(1)
    const verb = (match[2] as string).toLowerCase()
    const operation = CLOUD_OPERATIONS[verb] ?? verb.charAt(0).toUpperCase() + verb.slice(1)
    return { realmId: e.intuitaccountid, name, id: e.intuitentityid, operation, lastUpdated: e.time, occurredAt: toUtcIso(e.time), raw: e, eventId: e.id }
  })
}

export function verifyIntuitWebhook(input: WebhookInput, maxAgeSeconds: number, now = Date.now()): NormalizedWebhookEvent[] {
  checkSignature(input)
  let body: unknown
  try {
    body = JSON.parse(input.rawBody.toString('utf8'))
  } catch {
    return malformed('body is not JSON')
  }
  const changes = Array.isArray(body) ? parseCloudEvents(body) : body && typeof body === 'object' ? parseLegacy(body as Record<string, unknown>) : malformed('body is not an object')
  const newest = Math.max(...changes.map((change) => (change.occurredAt ? Date.parse(change.occurredAt) : Number.NEGATIVE_INFINITY)))
  if (changes.length > 0 && (!Number.isFinite(newest) || newest < now - maxAgeSeconds * 1000)) {
    throw new WebhookVerificationError('stale', `webhook reports changes older than ${maxAgeSeconds} s`)
  }
  return changes.map((change) => ({
    eventId: change.eventId,
    type: `${change.name}.${change.operation}`,
    entity: ENTITY_OF[change.name.toLowerCase()] ?? null,
    externalId: change.id,
    occurredAt: change.occurredAt,
    accountId: change.realmId,
    raw: change.raw,
  }))
}
