// Webhook endpoints and deliveries. Stripe signs `<t>.<raw body>` with HMAC-SHA256 under the
// endpoint's `whsec_` secret and sends `Stripe-Signature: t=<unix>,v1=<hex>`; bodies are the event
// object as pretty-printed JSON.
import { createHmac } from 'node:crypto'
import { invalidRequest, missingParam, noSuch } from './stripe-errors.ts'
import { newId } from './stripe-ids.ts'
import type { EventObject, WebhookEndpointObject } from './stripe-objects.ts'
import { applyMetadata, checkKnown, optBool, optNullableString, optString, optStringArray, type Params } from './stripe-params.ts'
import { nowSeconds, type SimAccount, type StripeState } from './stripe-state.ts'

/** Event types this simulator emits or can fire; `enabled_events` must come from this list. */
export const EVENT_TYPES = [
  'account.application.authorized',
  'account.application.deauthorized',
  'account.updated',
  'charge.captured',
  'charge.expired',
  'charge.failed',
  'charge.pending',
  'charge.refunded',
  'charge.succeeded',
  'charge.updated',
  'customer.created',
  'customer.deleted',
  'customer.updated',
  'payment_intent.canceled',
  'payment_intent.created',
  'payment_intent.payment_failed',
  'payment_intent.processing',
  'payment_intent.requires_action',
  'payment_intent.succeeded',
  'price.created',
  'price.deleted',
  'price.updated',
  'product.created',
  'product.deleted',
  'product.updated',
  'refund.created',
  'refund.updated',
] as const

/** Stripe's cap on webhook endpoints per account and mode. */
const MAX_ENDPOINTS = 16

export function signatureHeader(secret: string, payload: string, timestamp: number): string {
  const signature = createHmac('sha256', secret).update(`${timestamp}.${payload}`, 'utf8').digest('hex')
  return `t=${timestamp},v1=${signature}`
}

function checkEvents(events: string[] | undefined, required: boolean): string[] | undefined {
  if (events === undefined) {
    if (required) throw missingParam('enabled_events')
    return undefined
  }
  if (events.length === 0) throw invalidRequest('You must specify at least one event type.', { param: 'enabled_events' })
  events.forEach((type, index) => {
    if (type !== '*' && !(EVENT_TYPES as readonly string[]).includes(type)) {
      throw invalidRequest(`Invalid enabled_events[${index}]: must be one of ${EVENT_TYPES.join(', ')}, or *`, { param: `enabled_events[${index}]` })
    }
  })
  return events
}

function checkUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined
  try {
    const parsed = new URL(url)
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error('scheme')
  } catch {
    throw invalidRequest(`Invalid URL: ${url}. URLs must be a valid HTTPS URL.`, { param: 'url', code: 'url_invalid' })
  }
  return url
}

export function createWebhookEndpoint(account: SimAccount, params: Params): WebhookEndpointObject {
  checkKnown(params, ['enabled_events', 'url', 'api_version', 'connect', 'description', 'expand', 'metadata'])
  const url = checkUrl(optString(params, 'url'))
  if (!url) throw missingParam('url')
  const events = checkEvents(optStringArray(params, 'enabled_events'), true) as string[]
  if (account.webhookEndpoints.size >= MAX_ENDPOINTS) {
    throw invalidRequest(`You have reached the maximum of ${MAX_ENDPOINTS} test webhook endpoints.`, { code: 'webhook_endpoint_limit' })
  }
  const endpoint: WebhookEndpointObject = {
    id: newId(account.rng, 'we'),
    object: 'webhook_endpoint',
    api_version: optNullableString(params, 'api_version') ?? null,
    created: nowSeconds(),
    description: optNullableString(params, 'description') ?? null,
    enabled_events: events,
    metadata: applyMetadata({}, params.metadata),
    secret: newId(account.rng, 'whsec'),
    status: 'enabled',
    url,
    connect: optBool(params, 'connect') ?? false,
  }
  account.webhookEndpoints.insert(endpoint)
  return endpoint
}

export function liveEndpoint(account: SimAccount, id: string): WebhookEndpointObject {
  const endpoint = account.webhookEndpoints.get(id)
  if (!endpoint) throw noSuch('webhook_endpoint', id)
  return endpoint
}

export function updateWebhookEndpoint(account: SimAccount, id: string, params: Params): WebhookEndpointObject {
  checkKnown(params, ['description', 'disabled', 'enabled_events', 'expand', 'metadata', 'url'])
  const endpoint = structuredClone(liveEndpoint(account, id))
  const url = checkUrl(optString(params, 'url'))
  if (url) endpoint.url = url
  const events = checkEvents(optStringArray(params, 'enabled_events'), false)
  if (events) endpoint.enabled_events = events
  const disabled = optBool(params, 'disabled')
  if (disabled !== undefined) endpoint.status = disabled ? 'disabled' : 'enabled'
  const description = optNullableString(params, 'description')
  if (description !== undefined) endpoint.description = description
  endpoint.metadata = applyMetadata(endpoint.metadata, params.metadata)
  account.webhookEndpoints.replace(endpoint)
  return endpoint
}

export function deleteWebhookEndpoint(account: SimAccount, id: string): Record<string, unknown> {
  liveEndpoint(account, id)
  account.webhookEndpoints.remove(id)
  return { id, object: 'webhook_endpoint', deleted: true }
}

export interface Delivery {
  eventId: string
  type: string
  accountId: string
  endpointId: string | null
  url: string
  /** The exact bytes and headers sent, so tests can check them against the SDK. */
  payload: string
  headers: Record<string, string>
  status: number | null
  error: string | null
  at: number
}

/** The JSON body Stripe posts: the event, with `account` set for Connect endpoints. */
export function eventPayload(event: EventObject, connectAccount: string | null, apiVersion: string | null): string {
  const body: Record<string, unknown> = { ...event }
  if (connectAccount) body.account = connectAccount
  if (apiVersion) body.api_version = apiVersion
  return JSON.stringify(body, null, 2)
}

export async function deliver(target: { url: string; secret: string; endpointId: string | null }, event: EventObject, account: SimAccount, payload: string, timestamp = nowSeconds()): Promise<Delivery> {
  const headers: Record<string, string> = {
    'Content-Type': 'application/json; charset=utf-8',
    'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
    Accept: '*/*; q=0.5, application/xml',
    'Cache-Control': 'no-cache',
    'Stripe-Signature': signatureHeader(target.secret, payload, timestamp),
  }
  const delivery: Delivery = { eventId: event.id, type: event.type, accountId: account.id, endpointId: target.endpointId, url: target.url, payload, headers, status: null, error: null, at: Date.now() }
  try {
    const response = await fetch(target.url, { method: 'POST', headers, body: payload, signal: AbortSignal.timeout(10_000) })
    delivery.status = response.status
    await response.arrayBuffer()
  } catch (error) {
    delivery.error = error instanceof Error ? error.message : String(error)
  }
  return delivery
}

/** Posts an event to every endpoint subscribed to it (one attempt; Stripe's retries are not modelled). */
export async function deliverToSubscribers(state: StripeState, account: SimAccount, event: EventObject, timestamp?: number): Promise<Delivery[]> {
  const targets = state.subscribedEndpoints(account, event.type)
  return Promise.all(
    targets.map(({ owner, endpoint }) => deliver({ url: endpoint.url, secret: endpoint.secret, endpointId: endpoint.id }, event, account, eventPayload(event, owner.id === account.id ? null : account.id, endpoint.api_version), timestamp)),
  )
}
