// In-memory Stripe: accounts, the keys that open them, Connect links between platforms and
// connected accounts, and every account's objects and event log.
import { createPrng, seedFrom, type Prng } from '../common/prng.ts'
import { OrderedCollection, type StripeObject } from './stripe-collection.ts'
import { idPrefix, isWellFormedSecretKey, newEventId, newId } from './stripe-ids.ts'
import type { BalanceTransactionObject, ChargeObject, CustomerObject, EventObject, PaymentIntentObject, PriceObject, ProductObject, RefundObject, WebhookEndpointObject } from './stripe-objects.ts'

/** The version new accounts are pinned to; events are rendered at the account's version. */
export const DEFAULT_API_VERSION = '2025-03-31.basil'
/** Stripe keeps events for 30 days; older ones no longer list. */
export const EVENT_RETENTION_SECONDS = 30 * 86_400

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000)
}

export interface IdempotencyEntry {
  fingerprint: string
  /** Null while the first request with the key is still running. */
  response: { status: number; body: string; requestId: string } | null
  createdAt: number
}

export interface SimAccount {
  id: string
  created: number
  displayName: string
  email: string
  country: string
  defaultCurrency: string
  apiVersion: string
  /** Accounts connected to this one as a Connect platform. */
  connected: Set<string>
  customers: OrderedCollection<CustomerObject>
  products: OrderedCollection<ProductObject>
  prices: OrderedCollection<PriceObject>
  paymentIntents: OrderedCollection<PaymentIntentObject>
  charges: OrderedCollection<ChargeObject>
  refunds: OrderedCollection<RefundObject>
  balanceTransactions: OrderedCollection<BalanceTransactionObject>
  events: OrderedCollection<EventObject>
  webhookEndpoints: OrderedCollection<WebhookEndpointObject>
  idempotency: Map<string, IdempotencyEntry>
  /** Ids of objects created at run time: deterministic per account, distinct from seeded ones. */
  rng: Prng
}

export interface Credential {
  key: string
  accountId: string
  kind: 'secret' | 'oauth'
  revoked: boolean
  /** OAuth access tokens: the platform and application that obtained them. */
  platformId?: string
  clientId?: string
  /** Authorization code the token came from (reusing a code revokes its tokens). */
  code?: string
}

export interface RefreshToken {
  token: string
  accountId: string
  platformId: string
  clientId: string
  scope: string
  revoked: boolean
}

export interface AuthorizationCode {
  code: string
  clientId: string
  accountId: string
  scope: string
  redirectUri: string
  expiresAt: number
  used: boolean
}

/** Where an event was caused, as Stripe shows in `event.request`. */
export interface RequestOrigin {
  id: string | null
  idempotencyKey: string | null
}

export type EventListener = (account: SimAccount, event: EventObject) => void

export type Seeder = (state: StripeState, account: SimAccount) => void

export class StripeState {
  readonly seed: string
  readonly recordsPerEntity: number
  readonly accounts = new Map<string, SimAccount>()
  readonly credentials = new Map<string, Credential>()
  readonly refreshTokens = new Map<string, RefreshToken>()
  readonly authorizationCodes = new Map<string, AuthorizationCode>()
  /** Connect application (client id) -> the platform account that owns it. */
  readonly clients = new Map<string, string>()
  authorizationCodeTtlSeconds = 300
  readonly #listeners: EventListener[] = []
  readonly #seeder: Seeder
  #eventSequence = 0
  #connectedCount = 0
  readonly rng: Prng

  constructor(options: { seed: string; recordsPerEntity: number; seeder: Seeder }) {
    this.seed = options.seed
    this.recordsPerEntity = options.recordsPerEntity
    this.#seeder = options.seeder
    this.rng = createPrng(seedFrom(options.seed, 'stripe-runtime'))
  }

  onEvent(listener: EventListener): void {
    this.#listeners.push(listener)
  }

  requestId(): string {
    return newId(this.rng, 'req')
  }

  /** Resolves a key as the API does; well-formed unknown secret keys open a new account. */
  resolveKey(key: string): { status: 'ok'; credential: Credential; account: SimAccount } | { status: 'malformed' } | { status: 'revoked' } {
    const known = this.credentials.get(key)
    if (known) {
      if (known.revoked) return { status: 'revoked' }
      return { status: 'ok', credential: known, account: this.accounts.get(known.accountId) as SimAccount }
    }
    if (!isWellFormedSecretKey(key)) return { status: 'malformed' }
    const accountId = `acct_${createPrng(seedFrom(this.seed, 'account', key)).alnum(16)}`
    const account = this.accounts.get(accountId) ?? this.createAccount(accountId, `Venue ${accountId.slice(-6)}`)
    const credential: Credential = { key, accountId: account.id, kind: 'secret', revoked: false }
    this.credentials.set(key, credential)
    return { status: 'ok', credential, account }
  }

  createAccount(id: string, displayName: string): SimAccount {
    const rng = createPrng(seedFrom(this.seed, id, 'profile'))
    const account: SimAccount = {
      id,
      created: 1_600_000_000 + rng.int(0, 90_000_000),
      displayName,
      email: `owner+${id.slice(5).toLowerCase()}@example.com`,
      country: 'US',
      defaultCurrency: 'usd',
      apiVersion: DEFAULT_API_VERSION,
      connected: new Set(),
      customers: new OrderedCollection({ keepsDeleted: true }),
      products: new OrderedCollection(),
      prices: new OrderedCollection(),
      paymentIntents: new OrderedCollection(),
      charges: new OrderedCollection(),
      refunds: new OrderedCollection(),
      balanceTransactions: new OrderedCollection(),
      events: new OrderedCollection(),
      webhookEndpoints: new OrderedCollection(),
      idempotency: new Map(),
      rng: createPrng(seedFrom(this.seed, id, 'runtime')),
    }
    this.accounts.set(id, account)
    this.#seeder(this, account)
    return account
  }

  /** A fresh account for an OAuth authorization (a venue connecting its Stripe account). */
  createConnectedAccount(): SimAccount {
    this.#connectedCount += 1
    const id = `acct_${createPrng(seedFrom(this.seed, 'connected', this.#connectedCount)).alnum(16)}`
    return this.accounts.get(id) ?? this.createAccount(id, `Connected venue ${this.#connectedCount}`)
  }

  /** The collection holding objects with this id's prefix. */
  collectionFor(account: SimAccount, id: string): OrderedCollection<StripeObject> | undefined {
    const collections: Record<string, OrderedCollection<StripeObject>> = {
      cus: account.customers as OrderedCollection<StripeObject>,
      prod: account.products as OrderedCollection<StripeObject>,
      price: account.prices as OrderedCollection<StripeObject>,
      pi: account.paymentIntents as OrderedCollection<StripeObject>,
      ch: account.charges as OrderedCollection<StripeObject>,
      py: account.charges as OrderedCollection<StripeObject>,
      re: account.refunds as OrderedCollection<StripeObject>,
      txn: account.balanceTransactions as OrderedCollection<StripeObject>,
      evt: account.events as OrderedCollection<StripeObject>,
      we: account.webhookEndpoints as OrderedCollection<StripeObject>,
    }
    return collections[idPrefix(id)]
  }

  /** Appends an event to the account's log (what `/v1/events` lists) and tells the listeners. */
  emit(account: SimAccount, type: string, object: StripeObject, options: { previous?: Record<string, unknown>; origin?: RequestOrigin | null; created?: number; notify?: boolean } = {}): EventObject {
    this.#eventSequence += 1
    const data: EventObject['data'] = { object: structuredClone(object) }
    if (options.previous) data.previous_attributes = structuredClone(options.previous)
    const event: EventObject = {
      id: newEventId(account.rng, this.#eventSequence),
      object: 'event',
      api_version: account.apiVersion,
      created: options.created ?? nowSeconds(),
      data,
      livemode: false,
      pending_webhooks: this.pendingWebhooks(account, type),
      request: { id: options.origin?.id ?? null, idempotency_key: options.origin?.idempotencyKey ?? null },
      type,
    }
    account.events.insert(event)
    if (options.notify !== false) for (const listener of this.#listeners) listener(account, event)
    return event
  }

  /** Endpoints of the account (and Connect endpoints of its platforms) subscribed to a type. */
  subscribedEndpoints(account: SimAccount, type: string): Array<{ owner: SimAccount; endpoint: WebhookEndpointObject }> {
    const out: Array<{ owner: SimAccount; endpoint: WebhookEndpointObject }> = []
    const matches = (endpoint: WebhookEndpointObject): boolean => endpoint.status === 'enabled' && (endpoint.enabled_events.includes('*') || endpoint.enabled_events.includes(type))
    for (const endpoint of account.webhookEndpoints.all()) {
      if (!endpoint.connect && matches(endpoint)) out.push({ owner: account, endpoint })
    }
    for (const platform of this.accounts.values()) {
      if (!platform.connected.has(account.id)) continue
      for (const endpoint of platform.webhookEndpoints.all()) {
        if (endpoint.connect && matches(endpoint)) out.push({ owner: platform, endpoint })
      }
    }
    return out
  }

  pendingWebhooks(account: SimAccount, type: string): number {
    return this.subscribedEndpoints(account, type).length
  }

  /** Revokes every OAuth grant a platform holds on an account (deauthorization). */
  revokeGrant(platformId: string, accountId: string): void {
    for (const credential of this.credentials.values()) {
      if (credential.kind === 'oauth' && credential.platformId === platformId && credential.accountId === accountId) credential.revoked = true
    }
    for (const token of this.refreshTokens.values()) {
      if (token.platformId === platformId && token.accountId === accountId) token.revoked = true
    }
    this.accounts.get(platformId)?.connected.delete(accountId)
  }

  /** Looks up any credential the control API is given: secret keys, OAuth access or refresh tokens. */
  accountForCredential(credential: string): SimAccount | undefined {
    const refresh = this.refreshTokens.get(credential)
    if (refresh) return this.accounts.get(refresh.accountId)
    const resolved = this.resolveKey(credential)
    if (resolved.status === 'ok') return resolved.account
    const known = this.credentials.get(credential)
    return known ? this.accounts.get(known.accountId) : undefined
  }
}
