// Mailchimp list webhooks are not signed: Mailchimp POSTs a form to whatever URL was registered.
// The hub therefore registers a URL carrying a random secret (`?secret=...`) and a delivery is
// authentic when the URL it arrived on carries that secret. That authenticates the sender, not
// the bytes: a body changed in transit cannot be detected (TLS is what protects it), and there
// is no signed timestamp, so staleness is judged from the body's own `fired_at`.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { nullObject, setPath } from '@hub/contracts'
import type { NormalizedWebhookEvent, WebhookInput } from '../provider-adapter.ts'
import { WebhookVerificationError } from '../provider-errors.ts'
import { contactExternalId, subscriberHash } from './mailchimp-mapper.ts'

export const WEBHOOK_SECRET_PARAM = 'secret'
const CONTACT_EVENTS = new Set(['subscribe', 'unsubscribe', 'profile', 'upemail', 'cleaned'])

/** Events the hub subscribes to; campaign sends are not contact changes. */
export const WEBHOOK_EVENTS = { subscribe: true, unsubscribe: true, profile: true, cleaned: true, upemail: true, campaign: false }
/** All sources, API included, so changes made by other integrations reach the hub too. */
export const WEBHOOK_SOURCES = { user: true, admin: true, api: true }

export function newWebhookSecret(): string {
  return randomBytes(32).toString('base64url')
}

export function withSecret(url: string, secret: string): string {
  const target = new URL(url)
  target.searchParams.set(WEBHOOK_SECRET_PARAM, secret)
  return target.toString()
}

/** Equal-length digests first, so neither content nor length leaks through timing. */
function secretsEqual(a: string, b: string): boolean {
  const left = createHash('sha256').update(a, 'utf8').digest()
  const right = createHash('sha256').update(b, 'utf8').digest()
  return timingSafeEqual(left, right) && a.length === b.length
}

type Nested = { [key: string]: string | Nested }

/**
 * PHP-style form keys (`data[merges][FNAME]`) into nested objects. Every level has no prototype
 * and a pair naming `__proto__`, `constructor` or `prototype` anywhere in its key is dropped:
 * the sender chooses these names, and following them would reach Object.prototype.
 */
export function parseForm(body: string): Nested {
  const out: Nested = nullObject()
  for (const [key, value] of new URLSearchParams(body)) {
    const match = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(key)
    if (!match) continue
    const path = [match[1] as string, ...[...(match[2] ?? '').matchAll(/\[([^[\]]*)\]/g)].map((part) => part[1] as string)]
    setPath(out, path, value)
  }
  return out
}

/** `2009-03-26 21:35:57`, in UTC. */
function parseFiredAt(value: string): number {
  const match = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)$/.exec(value)
  return match ? Date.parse(`${match[1]}T${match[2]}Z`) : Number.NaN
}

export interface VerifyOptions {
  toleranceSeconds: number
  now: () => number
}

export function verifyMailchimpWebhook(input: WebhookInput, options: VerifyOptions): NormalizedWebhookEvent[] {
  let url: URL
  try {
    url = new URL(input.url, 'http://hub.invalid')
  } catch {
    throw new WebhookVerificationError('malformed', 'Unreadable webhook URL')
  }
  const provided = url.searchParams.get(WEBHOOK_SECRET_PARAM)
  if (!provided) throw new WebhookVerificationError('missing_signature', `Mailchimp webhook URL carries no ${WEBHOOK_SECRET_PARAM} parameter`)
  if (!input.secret || !secretsEqual(provided, input.secret)) throw new WebhookVerificationError('bad_signature', 'Mailchimp webhook secret does not match')

  const body = input.rawBody.toString('utf8')
  const form = parseForm(body)
  const type = form.type
  const firedAt = form.fired_at
  const data = form.data
  if (typeof type !== 'string' || typeof firedAt !== 'string' || typeof data !== 'object') {
    throw new WebhookVerificationError('malformed', 'Not a Mailchimp list webhook (type, fired_at and data[] expected)')
  }
  const firedMs = parseFiredAt(firedAt)
  if (Number.isNaN(firedMs)) throw new WebhookVerificationError('malformed', `Unreadable fired_at: ${firedAt}`)
  const tolerance = (input.toleranceSeconds ?? options.toleranceSeconds) * 1000
  if (Math.abs(options.now() - firedMs) > tolerance) throw new WebhookVerificationError('stale', `Mailchimp webhook fired at ${firedAt} UTC, outside the tolerated window`)

  const listId = typeof data.list_id === 'string' ? data.list_id : null
  // upemail names the member by its new address; the old one is in raw.data.old_email.
  const email = type === 'upemail' ? data.new_email : data.email
  const isContact = CONTACT_EVENTS.has(type)
  return [
    {
      // Mailchimp sends no event id; the body (type, fired_at, data) identifies a delivery, so
      // its hash is stable across Mailchimp's retries of the same event.
      eventId: createHash('sha256').update(input.rawBody).digest('hex'),
      type,
      entity: isContact ? 'contact' : null,
      externalId: isContact && listId && typeof email === 'string' ? contactExternalId(listId, subscriberHash(email)) : null,
      occurredAt: new Date(firedMs).toISOString(),
      // The audience is what binds a Mailchimp event to a connection (webhook-binding.ts).
      accountId: listId,
      raw: form,
    },
  ]
}
