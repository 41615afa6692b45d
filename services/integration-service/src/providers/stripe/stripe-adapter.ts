// The Stripe ProviderAdapter: customers, products (with their default price) and payments
// (charges) through the official SDK, one client per call context.
import Stripe from 'stripe'
import type { CanonicalRecord, EntityName } from '../canonical.ts'
import type { AccountInfo, ChangePage, ListOptions, ProviderAdapter, ProviderContext, WebhookInput, WebhookRegistration } from '../provider-adapter.ts'
import { ProviderInvalidError, ProviderNotFoundError } from '../provider-errors.ts'
import { stripeClient, type StripeClientOptions } from './stripe-client.ts'
import { DEFAULT_RETRY_AFTER_MS, call } from './stripe-errors.ts'
import { mapCharge, mapCustomer, mapProduct } from './stripe-mapper.ts'
import { CONNECT_SCOPE, authorizeUrl, exchangeCode, refreshToken, revoke } from './stripe-oauth.ts'
import { STRIPE_ENTITIES, listStripeChanges } from './stripe-sync.ts'
import { stripeEventSnapshot, verifyStripeWebhook } from './stripe-webhooks.ts'

export interface StripeAdapterOptions {
  /** Per-request SDK timeout (default 30 s). */
  timeoutMs?: number
  /** Wait reported for a 429 without Retry-After (default 1000 ms). */
  defaultRetryAfterMs?: number
  /** Clock, for tests of webhook tolerance and watermark age. */
  now?: () => number
}

/** Events a registered endpoint subscribes to: everything listChanges and verifyWebhook understand. */
export const STRIPE_WEBHOOK_EVENTS = [
  'customer.created',
  'customer.updated',
  'customer.deleted',
  'product.created',
  'product.updated',
  'product.deleted',
  'price.created',
  'price.updated',
  'price.deleted',
  'charge.succeeded',
  'charge.failed',
  'charge.pending',
  'charge.captured',
  'charge.refunded',
  'charge.updated',
  'charge.expired',
] as const

export function createStripeAdapter(options: StripeAdapterOptions = {}): ProviderAdapter {
  const clientOptions: StripeClientOptions = { timeoutMs: options.timeoutMs ?? 30_000 }
  const retryAfter = options.defaultRetryAfterMs ?? DEFAULT_RETRY_AFTER_MS
  const now = options.now ?? Date.now
  const client = (ctx: ProviderContext): Stripe => stripeClient(ctx, clientOptions)

  async function fetchOne<E extends EntityName>(ctx: ProviderContext, entity: E, externalId: string): Promise<CanonicalRecord<E> | null> {
    const stripe = client(ctx)
    try {
      switch (entity) {
        case 'customer': {
          const customer = await call(() => stripe.customers.retrieve(externalId), retryAfter)
          return customer.deleted ? null : (mapCustomer(customer) as CanonicalRecord<E>)
        }
        case 'product':
          return mapProduct(await call(() => stripe.products.retrieve(externalId, { expand: ['default_price'] }), retryAfter)) as CanonicalRecord<E>
        case 'payment':
          return mapCharge(await call(() => stripe.charges.retrieve(externalId), retryAfter)) as CanonicalRecord<E>
        default:
          throw new ProviderInvalidError('stripe', `Stripe does not provide ${entity} records`, { providerCode: 'entity_unsupported' })
      }
    } catch (error) {
      if (error instanceof ProviderNotFoundError) return null
      throw error
    }
  }

  return {
    provider: 'stripe',
    entities: STRIPE_ENTITIES,
    auth: {
      type: 'api_key',
      keyPattern: /^(sk|rk)_(test|live)_[A-Za-z0-9]{16,247}$/,
      oauth: { authorizePath: '/oauth/authorize', tokenPath: '/oauth/token', revokePath: '/oauth/deauthorize', scopes: [CONNECT_SCOPE], pkce: false },
    },

    async verifyCredentials(ctx): Promise<AccountInfo> {
      const account = await call(() => client(ctx).accounts.retrieveCurrent(), retryAfter)
      return { accountId: account.id, name: account.settings?.dashboard?.display_name ?? account.business_profile?.name ?? null }
    },

    listChanges<E extends EntityName>(ctx: ProviderContext, entity: E, listOptions: ListOptions): AsyncIterable<ChangePage<E>> {
      return listStripeChanges({ client: client(ctx), signal: ctx.signal, defaultRetryAfterMs: retryAfter, now }, entity, listOptions)
    },

    fetchOne,

    verifyWebhook: (input: WebhookInput) => verifyStripeWebhook(input, now()),

    recordFromEvent: stripeEventSnapshot,

    async registerWebhook(ctx, url): Promise<WebhookRegistration> {
      const endpoint = await call(
        // Pinned to the SDK's API version so payloads have the shape its types (and mappers) expect.
        () => client(ctx).webhookEndpoints.create({ url, enabled_events: [...STRIPE_WEBHOOK_EVENTS], description: 'Venue Integration Hub', api_version: Stripe.API_VERSION }),
        retryAfter,
      )
      return { endpointId: endpoint.id, secret: endpoint.secret ?? null }
    },

    async removeWebhook(ctx, endpointId): Promise<void> {
      try {
        await call(() => client(ctx).webhookEndpoints.del(endpointId), retryAfter)
      } catch (error) {
        // Already gone is the outcome we wanted.
        if (!(error instanceof ProviderNotFoundError)) throw error
      }
    },

    oauth: {
      authorizeUrl: (params) => authorizeUrl(params),
      exchangeCode: (params) => exchangeCode(params, clientOptions),
      refresh: (params) => refreshToken(params, clientOptions),
      revoke: (params) => revoke(params, clientOptions),
    },
  }
}
