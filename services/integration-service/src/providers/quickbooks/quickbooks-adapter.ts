// The QuickBooks Online adapter: REST over undici (Intuit publishes no Node SDK we use) against
// the Accounting API v3, Intuit OAuth 2.0 and Intuit webhooks.
import type { CanonicalRecord, EntityName } from '../canonical.ts'
import type { AccountInfo, ChangePage, ListOptions, ProviderAdapter, ProviderContext, WebhookRegistration } from '../provider-adapter.ts'
import { ProviderInvalidError, ProviderNotFoundError } from '../provider-errors.ts'
import { QuickBooksClient } from './quickbooks-client.ts'
import type { QuickBooksClientOptions } from './quickbooks-client.ts'
import { decodeCursor } from './quickbooks-cursor.ts'
import { PROVIDER } from './quickbooks-errors.ts'
import { listFull, listIncremental } from './quickbooks-listing.ts'
import type { ListingContext, ListingSettings, QuickBooksLogger } from './quickbooks-listing.ts'
import { isDeletion, mapRecord, needsHomeCurrency, qboEntityFor, QBO_SYNCED_ENTITIES } from './quickbooks-mapper.ts'
import { authorizeUrl, exchangeCode, QBO_OAUTH, refreshTokens, revokeToken } from './quickbooks-oauth.ts'
import { pushSalesReceipts } from './quickbooks-sales-receipts.ts'
import { DEFAULT_WEBHOOK_MAX_AGE_SECONDS, verifyIntuitWebhook } from './quickbooks-webhooks.ts'

export interface QuickBooksAdapterOptions {
  /** Wait for response headers and between body chunks (ms). Default 30 s. */
  timeoutMs?: number
  connectTimeoutMs?: number
  /** Accounting API minor version sent on every call. Default 75. */
  minorVersion?: string
  /** Objects per query page (MAXRESULTS is this + 1, at most 1000). Default 500. */
  pageSize?: number
  /** Subtracted from a run's start to form its watermark (clock skew, replication lag). Default 60 s. */
  watermarkSafetyMs?: number
  /** Delivered versions remembered in a cursor to avoid redelivery inside the margin. Default 1000. */
  seenLimit?: number
  /** The company's home currency, when known; otherwise read from /preferences when needed. */
  homeCurrency?: string
  /** The app's webhook verifier token from the Intuit developer portal. */
  webhookVerifierToken?: string
  /** Webhooks whose newest change is older than this are refused as stale. Default 24 h. */
  webhookMaxAgeSeconds?: number
  /** Item used on pushed sales receipt lines; QuickBooks falls back to its default when omitted. */
  salesReceiptItemId?: string
  /** Receives fallbacks from CDC to queries (pino-compatible `warn`). */
  logger?: QuickBooksLogger
}

const MAX_PAGE_SIZE = 999

export function createQuickBooksAdapter(options: QuickBooksAdapterOptions = {}): ProviderAdapter {
  const clientOptions: QuickBooksClientOptions = {
    timeoutMs: options.timeoutMs ?? 30_000,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    minorVersion: options.minorVersion ?? '75',
  }
  const oauthHttp = { timeoutMs: clientOptions.timeoutMs, connectTimeoutMs: clientOptions.connectTimeoutMs }
  const settingsFor = (pageSize: number | undefined): ListingSettings => ({
    pageSize: Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(pageSize ?? options.pageSize ?? 500))),
    safetyMarginMs: Math.max(1000, options.watermarkSafetyMs ?? 60_000),
    seenLimit: Math.max(0, options.seenLimit ?? 1000),
    logger: options.logger,
  })

  /** The home currency, read at most once per call context. */
  const currencyLoader = (client: QuickBooksClient): (() => Promise<string | null>) => {
    let pending: Promise<string | null> | undefined
    return () => {
      if (options.homeCurrency) return Promise.resolve(options.homeCurrency.toUpperCase())
      pending ??= client.homeCurrency()
      return pending
    }
  }

  async function withClient<T>(ctx: ProviderContext, run: (client: QuickBooksClient) => Promise<T>): Promise<T> {
    const client = new QuickBooksClient(ctx, clientOptions)
    try {
      return await run(client)
    } finally {
      await client.close()
    }
  }

  async function* listChanges<E extends EntityName>(ctx: ProviderContext, entity: E, listOptions: ListOptions): AsyncGenerator<ChangePage<E>> {
    const qbo = qboEntityFor(entity)
    const client = new QuickBooksClient(ctx, clientOptions)
    try {
      const listing: ListingContext<E> = { client, entity, qbo, settings: settingsFor(listOptions.pageSize), homeCurrency: currencyLoader(client) }
      const cursor = listOptions.cursor === null ? null : decodeCursor(listOptions.cursor, client.realmId, qbo)
      if (cursor === null || (listOptions.mode === 'full' && cursor.k !== 'full')) {
        yield* listFull(listing, null)
      } else if (cursor.k === 'full') {
        yield* listFull(listing, cursor)
      } else {
        yield* listIncremental(listing, cursor)
      }
    } finally {
      await client.close()
    }
  }

  const adapter: ProviderAdapter = {
    provider: 'quickbooks',
    entities: QBO_SYNCED_ENTITIES,
    auth: { type: 'oauth2', oauth: QBO_OAUTH },

    verifyCredentials(ctx): Promise<AccountInfo> {
      return withClient(ctx, async (client) => {
        const info = await client.companyInfo()
        return { accountId: client.realmId, name: typeof info.CompanyName === 'string' ? info.CompanyName : null }
      })
    },

    listChanges,

    async fetchOne<E extends EntityName>(ctx: ProviderContext, entity: E, externalId: string): Promise<CanonicalRecord<E> | null> {
      const qbo = qboEntityFor(entity)
      // QuickBooks ids are numeric; anything else cannot exist there.
      if (!/^\d+$/.test(externalId)) return null
      return withClient(ctx, async (client) => {
        let object: Record<string, unknown>
        try {
          object = await client.read(qbo, externalId)
        } catch (error) {
          if (error instanceof ProviderNotFoundError) return null
          throw error
        }
        if (isDeletion(qbo, object)) return null
        const home = needsHomeCurrency(qbo, [object]) ? await currencyLoader(client)() : null
        return mapRecord(entity, object, home)
      })
    },

    verifyWebhook(input) {
      return verifyIntuitWebhook(input, options.webhookMaxAgeSeconds ?? DEFAULT_WEBHOOK_MAX_AGE_SECONDS)
    },

    // Intuit has no API for webhook subscriptions: the endpoint URL, entities and verifier token
    // are set per app in the developer portal. Registering therefore only hands back the
    // configured verifier token for the connection to store; removing is a no-op.
    async registerWebhook(ctx, url): Promise<WebhookRegistration> {
      if (!options.webhookVerifierToken) {
        throw new ProviderInvalidError(PROVIDER, 'QuickBooks webhooks are configured in the Intuit developer portal; set the adapter option webhookVerifierToken to the portal verifier token')
      }
      const realmId = ctx.credentials.realmId ?? 'app'
      return { endpointId: `intuit-portal:${realmId}:${url}`, secret: options.webhookVerifierToken }
    },

    async removeWebhook() {},

    oauth: {
      authorizeUrl,
      exchangeCode: (params: Parameters<typeof exchangeCode>[0]) => exchangeCode(params, oauthHttp),
      refresh: (params) => refreshTokens(params, oauthHttp),
      revoke: (params) => revokeToken(params, oauthHttp),
    },

    createSalesReceipts(ctx, receipts) {
      return withClient(ctx, (client) => pushSalesReceipts(client, receipts, options.salesReceiptItemId))
    },
  }
  return adapter
}

/** Same factory under the brief's `create<Provider>Adapter` spelling. */
export const createQuickbooksAdapter = createQuickBooksAdapter
