// The Square ProviderAdapter: customers, payments and catalog items through the official
// `square` SDK (v46) pointed at ctx.baseUrl.
import { randomUUID } from 'node:crypto'
import type { CanonicalRecord, EntityName } from '../canonical.ts'
import type { ChangePage, ListOptions, ProviderAdapter, ProviderContext } from '../provider-adapter.ts'
import { ProviderInvalidError, ProviderNotFoundError } from '../provider-errors.ts'
import { createSquareClient, requestOptions } from './square-client.ts'
import { SQUARE_SOURCES } from './square-entities.ts'
import type { EntitySource } from './square-entities.ts'
import { callSquare } from './square-errors.ts'
import { listSquareChanges } from './square-listing.ts'
import { createSquareOAuth, SQUARE_OAUTH } from './square-oauth.ts'
import { DEFAULT_REPLAY_WINDOW_SECONDS, squareEventSnapshot, verifySquareWebhook } from './square-webhooks.ts'

export interface SquareAdapterOptions {
  /** Per-request timeout handed to the SDK. Default 30 s. */
  timeoutSeconds?: number
  /** How far an incremental window reaches back before the previous run's start. Default 60 s. */
  consistencyLagMs?: number
  /** Cap on remembered fingerprints in a watermark. Default 2,000. */
  maxFingerprints?: number
  /** Oldest signed `created_at` accepted on a webhook. Default 25 h (Square retries for 24 h). */
  webhookReplayWindowSeconds?: number
  /** Event types a registered subscription receives. */
  webhookEventTypes?: string[]
}

export const SQUARE_ENTITIES = ['customer', 'payment', 'product'] as const satisfies readonly EntityName[]
export const SQUARE_WEBHOOK_EVENT_TYPES = ['customer.created', 'customer.updated', 'customer.deleted', 'payment.created', 'payment.updated', 'catalog.version.updated']
/** Personal access tokens (production and sandbox) and OAuth access tokens share this shape. */
export const SQUARE_TOKEN_PATTERN = /^EAAA[A-Za-z0-9_-]{60}$/

function sourceFor(entity: EntityName): EntitySource {
  const source = SQUARE_SOURCES[entity]
  if (!source) throw new ProviderInvalidError('square', `Square does not provide ${entity} records`)
  return source
}

export function createSquareAdapter(options: SquareAdapterOptions = {}): ProviderAdapter {
  const settings = { timeoutSeconds: options.timeoutSeconds ?? 30 }
  const listing = { lagMs: options.consistencyLagMs ?? 60_000, maxFingerprints: options.maxFingerprints ?? 2_000 }
  const client = (ctx: ProviderContext) => createSquareClient(ctx, settings)

  return {
    provider: 'square',
    entities: SQUARE_ENTITIES,
    auth: { type: 'api_key', keyPattern: SQUARE_TOKEN_PATTERN, oauth: SQUARE_OAUTH },

    async verifyCredentials(ctx) {
      const response = await callSquare(ctx.signal, () => client(ctx).merchants.get({ merchantId: 'me' }, requestOptions(ctx)))
      const merchant = response.merchant
      if (!merchant?.id) throw new ProviderInvalidError('square', 'Square returned no merchant for these credentials')
      return { accountId: merchant.id, name: merchant.businessName ?? null }
    },

    listChanges<E extends EntityName>(ctx: ProviderContext, entity: E, listOptions: ListOptions): AsyncIterable<ChangePage<E>> {
      const source = sourceFor(entity)
      return listSquareChanges(ctx, client(ctx), entity, source, listOptions, listing)
    },

    async fetchOne<E extends EntityName>(ctx: ProviderContext, entity: E, externalId: string): Promise<CanonicalRecord<E> | null> {
      const source = sourceFor(entity)
      try {
        return (await callSquare(ctx.signal, () => source.fetchOne(client(ctx), ctx, externalId))) as CanonicalRecord<E> | null
      } catch (error) {
        if (error instanceof ProviderNotFoundError) return null
        throw error
      }
    },

    recordFromEvent: squareEventSnapshot,

    verifyWebhook(input) {
      return verifySquareWebhook(input, options.webhookReplayWindowSeconds ?? DEFAULT_REPLAY_WINDOW_SECONDS)
    },

    async registerWebhook(ctx, url) {
      const response = await callSquare(ctx.signal, () =>
        client(ctx).webhooks.subscriptions.create(
          {
            idempotencyKey: randomUUID(),
            subscription: { name: 'Venue Integration Hub', eventTypes: options.webhookEventTypes ?? SQUARE_WEBHOOK_EVENT_TYPES, notificationUrl: url },
          },
          requestOptions(ctx),
        ),
      )
      const subscription = response.subscription
      if (!subscription?.id) throw new ProviderInvalidError('square', 'Square returned no webhook subscription')
      return { endpointId: subscription.id, secret: subscription.signatureKey ?? null }
    },

    async removeWebhook(ctx, endpointId) {
      try {
        await callSquare(ctx.signal, () => client(ctx).webhooks.subscriptions.delete({ subscriptionId: endpointId }, requestOptions(ctx)))
      } catch (error) {
        // Already gone is the outcome the caller wants.
        if (!(error instanceof ProviderNotFoundError)) throw error
      }
    },

    oauth: createSquareOAuth(settings),
  }
}
