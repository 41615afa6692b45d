// In-memory Square: merchants (accounts) with their customers, payments and catalog, the
// credentials that open them and the OAuth grants issued. A well-formed personal access token
// opens its own merchant, seeded from (seed, merchant id) on first use.
import { createHash } from 'node:crypto'
import { createPrng, seedFrom } from '../common/prng.ts'
import type { Prng } from '../common/prng.ts'
import { buildCategories, buildCustomer, buildItem, buildMerchant, buildPayment, iso, pastTimes } from './square-fixtures.ts'
import { ACCESS_TOKEN_PATTERN, merchantIdFrom } from './square-ids.ts'
import type { SquareCatalogObject, SquareCustomer, SquareEntity, SquareLocation, SquareMerchant, SquarePayment, SquareWebhookSubscription } from './square-types.ts'

const DAY = 86_400_000
/** Seeded records are last touched at least this long ago, so "changed since" tests start clean. */
const SEED_QUIET_MS = 10 * 60_000

export interface SquareAccount {
  id: string
  merchant: SquareMerchant
  locations: SquareLocation[]
  customers: Map<string, SquareCustomer>
  /** Snapshots of deleted customers: Square forgets them, but `customer.deleted` events carry them. */
  deletedCustomers: Map<string, SquareCustomer>
  payments: Map<string, SquarePayment>
  /** Items and categories (items embed their variations, as Square returns them). */
  catalog: Map<string, SquareCatalogObject>
  catalogVersion: number
  subscriptions: Map<string, SquareWebhookSubscription>
  /** Drives ids and data of records created after seeding, deterministically per account. */
  liveRng: Prng
  /** Running index for unique fake e-mail addresses and product names. */
  nextIndex: number
}

export interface OAuthAccessGrant {
  merchantId: string
  clientId: string
  scopes: string[]
  expiresAt: number
  refreshToken: string
  revoked: boolean
}

export interface OAuthRefreshGrant {
  merchantId: string
  clientId: string
  scopes: string[]
  pkce: boolean
  expiresAt: number | null
  revoked: boolean
}

export interface AuthorizationCode {
  clientId: string
  merchantId: string
  scopes: string[]
  redirectUri: string | null
  codeChallenge: string | null
  expiresAt: number
  used: boolean
}

export type TokenResolution = { ok: true; account: SquareAccount; token: string; scopes: string[] | null } | { ok: false; reason: 'malformed' | 'revoked' | 'oauth_revoked' | 'expired' }

export interface SquareStoreOptions {
  seed: string
  recordsPerEntity: number
}

export class SquareStore {
  readonly seed: string
  readonly recordsPerEntity: number
  readonly accounts = new Map<string, SquareAccount>()
  readonly #patAccounts = new Map<string, string>()
  readonly #revoked = new Set<string>()
  readonly accessGrants = new Map<string, OAuthAccessGrant>()
  readonly refreshGrants = new Map<string, OAuthRefreshGrant>()
  readonly codes = new Map<string, AuthorizationCode>()
  /** client_id → client_secret, bound the first time a client authenticates (there is no app dashboard). */
  readonly clientSecrets = new Map<string, string>()
  accessTokenTtlSeconds = 30 * 86_400
  #lastNow = 0
  #oauthMerchants = 0

  constructor(options: SquareStoreOptions) {
    this.seed = options.seed
    this.recordsPerEntity = options.recordsPerEntity
  }

  /**
   * Strictly increasing milliseconds, so every single change gets its own `updated_at` (batches
   * share one). It runs ahead of the wall clock only by the number of changes made within one
   * millisecond.
   */
  now(): number {
    this.#lastNow = Math.max(Date.now(), this.#lastNow + 1)
    return this.#lastNow
  }

  /** Resolves an access token the way Square's auth layer does, opening PAT accounts on first use. */
  resolveToken(token: string): TokenResolution {
    if (!ACCESS_TOKEN_PATTERN.test(token)) return { ok: false, reason: 'malformed' }
    if (this.#revoked.has(token)) return { ok: false, reason: 'revoked' }
    const grant = this.accessGrants.get(token)
    if (grant) {
      if (grant.revoked) return { ok: false, reason: 'oauth_revoked' }
      if (Date.now() >= grant.expiresAt) return { ok: false, reason: 'expired' }
      return { ok: true, account: this.account(grant.merchantId), token, scopes: grant.scopes }
    }
    return { ok: true, account: this.accountForPat(token), token, scopes: null }
  }

  accountForPat(token: string): SquareAccount {
    let merchantId = this.#patAccounts.get(token)
    if (!merchantId) {
      merchantId = merchantIdFrom(this.seed, 'pat', token)
      this.#patAccounts.set(token, merchantId)
    }
    return this.account(merchantId)
  }

  /** Returns the merchant, creating and seeding it on first use. */
  account(merchantId: string): SquareAccount {
    const existing = this.accounts.get(merchantId)
    if (existing) return existing
    const now = this.now()
    const profile = buildMerchant(createPrng(seedFrom(this.seed, merchantId, 'merchant')), merchantId, now)
    const account: SquareAccount = {
      id: merchantId,
      merchant: profile.merchant,
      locations: profile.locations,
      customers: new Map(),
      deletedCustomers: new Map(),
      payments: new Map(),
      catalog: new Map(),
      catalogVersion: now - 30 * DAY,
      subscriptions: new Map(),
      liveRng: createPrng(seedFrom(this.seed, merchantId, 'live')),
      nextIndex: 0,
    }
    this.accounts.set(merchantId, account)
    for (const entity of ['customer', 'product', 'payment'] as const) this.seedEntity(account, entity, this.recordsPerEntity)
    return account
  }

  /** A fresh merchant for an OAuth authorization that names none. */
  newOAuthMerchant(clientId: string): SquareAccount {
    this.#oauthMerchants += 1
    return this.account(merchantIdFrom(this.seed, 'oauth', clientId, String(this.#oauthMerchants)))
  }

  revokeCredential(credential: string): boolean {
    this.#revoked.add(credential)
    const grant = this.accessGrants.get(credential)
    if (grant) grant.revoked = true
    const refresh = this.refreshGrants.get(credential)
    if (refresh) refresh.revoked = true
    return ACCESS_TOKEN_PATTERN.test(credential) || grant !== undefined || refresh !== undefined
  }

  /** Replaces one entity's records with `count` deterministic ones. */
  seedEntity(account: SquareAccount, entity: SquareEntity, count: number): void {
    const rng = createPrng(seedFrom(this.seed, account.id, entity, count))
    const now = Date.now()
    const latest = now - SEED_QUIET_MS
    const currency = account.merchant.currency
    account.nextIndex = Math.max(account.nextIndex, count)
    if (entity === 'customer') {
      account.customers.clear()
      account.deletedCustomers.clear()
      for (let i = 0; i < count; i++) {
        const { created, updated } = pastTimes(rng, now, 730, latest)
        const customer = buildCustomer(rng, i, created, updated)
        account.customers.set(customer.id, customer)
      }
    } else if (entity === 'payment') {
      account.payments.clear()
      const customerIds = [...account.customers.keys()]
      // Payments span 18 months: ListPayments only shows the last year unless begin_time says otherwise.
      for (let i = 0; i < count; i++) {
        const { created } = pastTimes(rng, now, 540, latest)
        const updated = Math.min(created + rng.int(1_000, 5 * 60_000), latest)
        const payment = buildPayment(rng, { currency, locationIds: this.locationIds(account), customerIds }, created, updated)
        account.payments.set(payment.id, payment)
      }
    } else {
      account.catalog.clear()
      const categoryCreated = now - 900 * DAY
      const categories = buildCategories(rng, categoryCreated, account.catalogVersion)
      for (const category of categories) account.catalog.set(category.id, category)
      const categoryIds = categories.map((category) => category.id)
      for (let i = 0; i < count; i++) {
        const { created, updated } = pastTimes(rng, now, 700, latest)
        const item = buildItem(rng, i, currency, categoryIds, created, updated, updated)
        account.catalog.set(item.id, item)
      }
    }
  }

  /** Creates `count` new records now, as a seller or their customers would. */
  createRecords(account: SquareAccount, entity: SquareEntity, count: number): Array<SquareCustomer | SquarePayment | SquareCatalogObject> {
    const created: Array<SquareCustomer | SquarePayment | SquareCatalogObject> = []
    // One timestamp per batch, like a bulk import: a burst must not push the clock ahead.
    const now = this.now()
    for (let i = 0; i < count; i++) {
      const index = account.nextIndex++
      if (entity === 'customer') {
        const customer = buildCustomer(account.liveRng, index, now, now)
        customer.version = 0
        customer.creation_source = 'THIRD_PARTY'
        account.customers.set(customer.id, customer)
        created.push(customer)
      } else if (entity === 'payment') {
        const context = { currency: account.merchant.currency, locationIds: this.locationIds(account), customerIds: [...account.customers.keys()] }
        const payment = buildPayment(account.liveRng, context, now, now)
        account.payments.set(payment.id, payment)
        created.push(payment)
      } else {
        const version = this.nextCatalogVersion(account, now)
        const categoryIds = [...account.catalog.values()].filter((object) => object.type === 'CATEGORY' && !object.is_deleted).map((object) => object.id)
        const item = buildItem(account.liveRng, index, account.merchant.currency, categoryIds, now, now, version)
        if (item.item_data) item.item_data.is_archived = false
        account.catalog.set(item.id, item)
        created.push(item)
      }
    }
    return created
  }

  locationIds(account: SquareAccount): string[] {
    const main = account.merchant.main_location_id
    return [main, ...account.locations.map((location) => location.id).filter((id) => id !== main)]
  }

  nextCatalogVersion(account: SquareAccount, now: number): number {
    account.catalogVersion = Math.max(account.catalogVersion + 1, now)
    return account.catalogVersion
  }

  touchCustomer(customer: SquareCustomer): void {
    customer.updated_at = iso(this.now())
    customer.version += 1
  }

  touchPayment(payment: SquarePayment): void {
    const now = this.now()
    payment.updated_at = iso(now)
    payment.version_token = createHash('sha256').update(`${payment.id}:${now}:${payment.version_token}`).digest('base64url').slice(0, 43)
  }

  touchCatalogObject(account: SquareAccount, object: SquareCatalogObject): void {
    const now = this.now()
    const version = this.nextCatalogVersion(account, now)
    object.updated_at = iso(now)
    object.version = version
    for (const variation of object.item_data?.variations ?? []) {
      variation.updated_at = object.updated_at
      variation.version = version
      variation.is_deleted = object.is_deleted
    }
  }
}
