// Webhook Subscriptions API. Square keeps subscriptions per application; the simulator keeps them
// per merchant account (the token's), which is what a single-tenant test needs. The signature
// key is returned on create only, and by the signature-key rotation endpoint.
import type { FastifyInstance } from 'fastify'
import { callerOf } from './square-auth.ts'
import type { SquareRouteContext } from './square-context.ts'
import { invalid, notFound } from './square-errors.ts'
import { squareSecrets } from './square-ids.ts'
import { keysetPage } from './square-paging.ts'
import type { Query } from './square-params.ts'
import { boolParam, compact, objectBody, queryString, sortOrder, strictLimit } from './square-params.ts'
import type { SquareAccount } from './square-store.ts'
import type { SquareWebhookSubscription } from './square-types.ts'
import { SUPPORTED_EVENT_TYPES } from './square-webhook-delivery.ts'

const DEFAULT_API_VERSION = '2025-10-16'

/** Square's subscription timestamps use this odd non-RFC 3339 format. */
function subscriptionTime(ms: number): string {
  return `${new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, '')} +0000 UTC`
}

function publicView(subscription: SquareWebhookSubscription): Omit<SquareWebhookSubscription, 'signature_key'> {
  const { signature_key: _secret, ...rest } = subscription
  return rest
}

/** Local http URLs are allowed so tests can receive deliveries; Square itself requires https. */
function checkUrl(raw: unknown): string {
  if (typeof raw !== 'string') throw invalid('MISSING_REQUIRED_PARAMETER', 'Field must be set', 'subscription.notification_url')
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw invalid('INVALID_VALUE', 'notification_url must be a valid URL', 'subscription.notification_url')
  }
  const local = url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '::1' || url.hostname === '[::1]'
  if (url.protocol !== 'https:' && !(local && url.protocol === 'http:')) {
    throw invalid('INVALID_VALUE', 'notification_url must use https', 'subscription.notification_url')
  }
  return raw
}

function checkEventTypes(raw: unknown): string[] {
  if (!Array.isArray(raw) || raw.length === 0) throw invalid('MISSING_REQUIRED_PARAMETER', 'Field must be set', 'subscription.event_types')
  for (const type of raw) {
    if (!SUPPORTED_EVENT_TYPES.includes(String(type))) throw invalid('INVALID_VALUE', `Event type ${String(type)} is not supported`, 'subscription.event_types')
  }
  return raw.map(String)
}

function findSubscription(account: SquareAccount, id: string): SquareWebhookSubscription {
  const subscription = account.subscriptions.get(id)
  if (!subscription) throw notFound(`Subscription not found.`)
  return subscription
}

export function registerWebhookRoutes(app: FastifyInstance, { store, codec }: SquareRouteContext): void {
  app.post('/v2/webhooks/subscriptions', async (request) => {
    const caller = callerOf(request)
    const body = objectBody(request.body)
    const input = (body.subscription ?? {}) as Record<string, unknown>
    const now = store.now()
    const subscription: SquareWebhookSubscription = {
      id: squareSecrets.webhookSubscriptionId(),
      name: typeof input.name === 'string' ? input.name : '',
      enabled: input.enabled !== false,
      event_types: checkEventTypes(input.event_types),
      notification_url: checkUrl(input.notification_url),
      api_version: typeof input.api_version === 'string' ? input.api_version : DEFAULT_API_VERSION,
      signature_key: squareSecrets.signatureKey(),
      created_at: subscriptionTime(now),
      updated_at: subscriptionTime(now),
    }
    caller.account.subscriptions.set(subscription.id, subscription)
    return { subscription }
  })

  app.get('/v2/webhooks/subscriptions', async (request) => {
    const caller = callerOf(request)
    const query = request.query as Query
    const limit = strictLimit(queryString(query, 'limit'), 'limit', 1, 100, 100)
    const order = sortOrder(queryString(query, 'sort_order'), 'sort_order', 'ASC')
    const includeDisabled = boolParam(queryString(query, 'include_disabled'))
    const { page, cursor } = keysetPage({
      items: [...caller.account.subscriptions.values()].filter((subscription) => includeDisabled || subscription.enabled),
      key: (subscription) => [subscription.created_at, subscription.id],
      descending: order === 'DESC',
      limit,
      cursor: queryString(query, 'cursor'),
      account: caller.account.id,
      query: { endpoint: 'subscriptions', includeDisabled, order },
      codec,
    })
    return compact({ subscriptions: page.map(publicView), cursor })
  })

  app.get('/v2/webhooks/subscriptions/:subscriptionId', async (request) => {
    const caller = callerOf(request)
    const { subscriptionId } = request.params as { subscriptionId: string }
    return { subscription: publicView(findSubscription(caller.account, subscriptionId)) }
  })

  app.put('/v2/webhooks/subscriptions/:subscriptionId', async (request) => {
    const caller = callerOf(request)
    const { subscriptionId } = request.params as { subscriptionId: string }
    const subscription = findSubscription(caller.account, subscriptionId)
    const input = (objectBody(request.body).subscription ?? {}) as Record<string, unknown>
    if (typeof input.name === 'string') subscription.name = input.name
    if (typeof input.enabled === 'boolean') subscription.enabled = input.enabled
    if (input.event_types !== undefined) subscription.event_types = checkEventTypes(input.event_types)
    if (input.notification_url !== undefined) subscription.notification_url = checkUrl(input.notification_url)
    subscription.updated_at = subscriptionTime(store.now())
    return { subscription: publicView(subscription) }
  })

  app.delete('/v2/webhooks/subscriptions/:subscriptionId', async (request) => {
    const caller = callerOf(request)
    const { subscriptionId } = request.params as { subscriptionId: string }
    findSubscription(caller.account, subscriptionId)
    caller.account.subscriptions.delete(subscriptionId)
    return {}
  })

  app.post('/v2/webhooks/subscriptions/:subscriptionId/signature-key', async (request) => {
    const caller = callerOf(request)
    const { subscriptionId } = request.params as { subscriptionId: string }
    const subscription = findSubscription(caller.account, subscriptionId)
    subscription.signature_key = squareSecrets.signatureKey()
    subscription.updated_at = subscriptionTime(store.now())
    return { signature_key: subscription.signature_key }
  })

  app.get('/v2/webhooks/event-types', async () => ({
    event_types: SUPPORTED_EVENT_TYPES,
    metadata: SUPPORTED_EVENT_TYPES.map((event_type) => ({ event_type, api_version_introduced: '2018-07-12', release_status: 'PUBLIC' })),
  }))
}
