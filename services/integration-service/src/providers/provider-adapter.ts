// The one interface every provider implements. The sync engine, connections and webhooks code
// only ever talk to this, never to an SDK.
import type { CanonicalRecord, EntityName, ProviderName } from './canonical.ts'

/** Decrypted credentials, handed to an adapter for one call and never stored by it. */
export interface ProviderCredentials {
  /** Stripe secret key, Square personal access token, Mailchimp `<key>-<dc>` key. */
  apiKey?: string
  /** OAuth access token (Square, QuickBooks, Mailchimp, Stripe Connect). */
  accessToken?: string
  refreshToken?: string
  /** QuickBooks company id. */
  realmId?: string
  /** Mailchimp data centre (from the key suffix or the OAuth metadata call). */
  dc?: string
  /** Stripe Connect account id. */
  accountId?: string
}

export interface ProviderContext {
  credentials: ProviderCredentials
  /** Provider API base URL (the simulator locally), e.g. `http://127.0.0.1:12111`. */
  baseUrl: string
  signal?: AbortSignal
}

export interface AccountInfo {
  /** The provider's id of the account the credentials open. */
  accountId: string
  name: string | null
}

export type AuthDescription = { type: 'api_key'; keyPattern: RegExp; oauth?: OAuthDescription } | { type: 'oauth2'; oauth: OAuthDescription }

export interface OAuthDescription {
  /** Path on the provider's auth host (joined to the configured base URL). */
  authorizePath: string
  tokenPath: string
  revokePath: string | null
  scopes: string[]
  pkce: boolean
}

export interface OAuthTokens {
  accessToken: string
  refreshToken: string | null
  /** Absolute expiry (ISO 8601) of the access token, when it expires. */
  expiresAt: string | null
  /** QuickBooks realm, Stripe Connect account, Mailchimp dc: whatever the provider returns. */
  realmId?: string
  accountId?: string
  dc?: string
  scope?: string
}

export interface ListOptions {
  mode: 'full' | 'incremental'
  /**
   * Opaque adapter state. For a full run: the checkpoint of an interrupted run to resume, or null
   * to start over. For an incremental run: the cursor a previous run ended with (null = full).
   */
  cursor: string | null
  pageSize?: number
}

export interface ChangePage<E extends EntityName = EntityName> {
  /** Created or changed records in this page. */
  records: Array<CanonicalRecord<E>>
  /** External ids the provider reports deleted (incremental runs). */
  deletedIds: string[]
  /**
   * State after this page. While `hasMore`, passing it back with the same mode resumes right
   * after this page; after the last page it is the cursor for the next incremental run.
   */
  cursor: string
  hasMore: boolean
}

export interface NormalizedWebhookEvent {
  /** The provider's event id: the idempotency key of the inbox. */
  eventId: string
  type: string
  entity: EntityName | null
  externalId: string | null
  occurredAt: string | null
  /**
   * What binds the event to a connection, when the provider says: Stripe Connect account, Square
   * merchant, QuickBooks realm, Mailchimp audience (list) id. Checked in webhook-binding.ts.
   */
  accountId: string | null
  raw: unknown
}

/** The record a webhook event carries, when the provider sends the whole object. */
export interface WebhookSnapshot {
  entity: EntityName
  externalId: string
  /** When the object was in this state (ISO): the object's own update time, or the event's. */
  version: string
  /** How coarse `version` is: two versions closer than this cannot be told apart in order. */
  precisionMs: number
  /** The record, or null when the event is its deletion. */
  record: CanonicalRecord | null
}

export interface WebhookInput {
  rawBody: Buffer
  headers: Record<string, string | string[] | undefined>
  /** The full URL the provider posted to (Square signs it). */
  url: string
  /** The signing secret stored for the connection. */
  secret: string
  /** Seconds of tolerated clock skew for timestamped schemes. */
  toleranceSeconds?: number
}

export interface WebhookRegistration {
  endpointId: string
  /** The signing secret the provider returned, when it returns one. */
  secret: string | null
}

export interface PushResult {
  succeeded: number
  failed: Array<{ key: string; code: string; message: string }>
}

export interface MailchimpMemberUpsert {
  email: string
  givenName: string | null
  familyName: string | null
  status: 'subscribed' | 'unsubscribed' | 'pending' | 'transactional'
}

export interface SalesReceiptPush {
  /** Idempotency key, e.g. the hub payment id. */
  key: string
  customerExternalId: string | null
  /** Integer minor units. */
  amount: number
  currency: string
  description: string
  date: string
}

export interface ProviderAdapter {
  readonly provider: ProviderName
  readonly entities: readonly EntityName[]
  readonly auth: AuthDescription

  verifyCredentials(ctx: ProviderContext): Promise<AccountInfo>
  listChanges<E extends EntityName>(ctx: ProviderContext, entity: E, options: ListOptions): AsyncIterable<ChangePage<E>>
  fetchOne<E extends EntityName>(ctx: ProviderContext, entity: E, externalId: string): Promise<CanonicalRecord<E> | null>

  /** Throws WebhookVerificationError; never trusts a body before its signature checks out. */
  verifyWebhook(input: WebhookInput): NormalizedWebhookEvent[]
  /**
   * The record in a stored (already verified) event's payload, when the event carries the whole
   * object; null for a thin event (or one whose object it cannot map): ask the provider then.
   */
  recordFromEvent?(payload: unknown): WebhookSnapshot | null
  registerWebhook(ctx: ProviderContext, url: string): Promise<WebhookRegistration>
  removeWebhook(ctx: ProviderContext, endpointId: string): Promise<void>

  oauth?: {
    authorizeUrl(params: { authBaseUrl: string; clientId: string; redirectUri: string; state: string; codeChallenge?: string }): string
    exchangeCode(params: { authBaseUrl: string; clientId: string; clientSecret: string; code: string; redirectUri: string; codeVerifier?: string }): Promise<OAuthTokens>
    refresh(params: { authBaseUrl: string; clientId: string; clientSecret: string; refreshToken: string }): Promise<OAuthTokens>
    /** `accountId`: the provider account of the grant, for providers that revoke by account (Stripe). */
    revoke(params: { authBaseUrl: string; clientId: string; clientSecret: string; token: string; accountId?: string | null }): Promise<void>
  }

  /** Mailchimp: members into an audience. */
  upsertContacts?(ctx: ProviderContext, listId: string, members: MailchimpMemberUpsert[]): Promise<PushResult>
  /** QuickBooks: sales receipts from hub payments. */
  createSalesReceipts?(ctx: ProviderContext, receipts: SalesReceiptPush[]): Promise<PushResult>
}
