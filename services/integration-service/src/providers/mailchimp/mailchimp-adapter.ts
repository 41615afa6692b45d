// The Mailchimp adapter: audiences' members as contacts, batch subscribe, list webhooks and
// OAuth, all through @mailchimp/mailchimp_marketing pointed at ctx.baseUrl.
import type { CanonicalRecord, EntityName } from '../canonical.ts'
import type { AccountInfo, ChangePage, ListOptions, MailchimpMemberUpsert, ProviderAdapter, ProviderContext, PushResult, WebhookInput, WebhookRegistration } from '../provider-adapter.ts'
import { ProviderInvalidError, ProviderNotFoundError } from '../provider-errors.ts'
import { enumerateLists, listContacts } from './mailchimp-contact-pager.ts'
import type { PagerConfig } from './mailchimp-contact-pager.ts'
import { callMailchimp } from './mailchimp-errors.ts'
import { parseContactExternalId, toContact } from './mailchimp-mapper.ts'
import { authorizeUrl, exchangeCode, refreshNotSupported, revokeNotSupported } from './mailchimp-oauth.ts'
import { createSdkClient } from './mailchimp-sdk.ts'
import { WEBHOOK_EVENTS, WEBHOOK_SOURCES, newWebhookSecret, verifyMailchimpWebhook, withSecret } from './mailchimp-webhooks.ts'

export interface MailchimpAdapterOptions {
  /** Sync (and register webhooks for) this audience only; default every audience of the account. */
  listId?: string
  /** Whole-request deadline of each SDK call. Default 30 s. */
  timeoutMs?: number
  /** Wait reported on a 429, which Mailchimp sends without Retry-After. Default 1 s. */
  rateLimitWaitMs?: number
  /** Members per page (max 1000). Default 500. */
  pageSize?: number
  /** Ids remembered to re-find the position after permanent deletions. Default 20. */
  anchorSize?: number
  /** Seconds re-read at the start of each incremental window. Default 1. */
  watermarkOverlapSeconds?: number
  /** Accepted age of a webhook's fired_at when the caller gives none. Default 3600 s. */
  webhookToleranceSeconds?: number
  /** Batch subscribe chunk (Mailchimp's maximum is 500). */
  batchSize?: number
  now?: () => number
}

const PROVIDER = 'mailchimp'
const MAX_BATCH = 500

function unsupported(entity: string): never {
  throw new ProviderInvalidError(PROVIDER, `Mailchimp has no ${entity} entity; it syncs contacts only`, { providerCode: 'unsupported_entity' })
}

export function createMailchimpAdapter(options: MailchimpAdapterOptions = {}): ProviderAdapter {
  const now = options.now ?? Date.now
  const config: PagerConfig = {
    timeoutMs: options.timeoutMs ?? 30_000,
    rateLimitWaitMs: options.rateLimitWaitMs ?? 1_000,
    pageSize: options.pageSize ?? 500,
    anchorSize: Math.max(1, options.anchorSize ?? 20),
    overlapSeconds: Math.max(0, options.watermarkOverlapSeconds ?? 1),
    listId: options.listId,
    now,
  }
  const batchSize = Math.max(1, Math.min(MAX_BATCH, options.batchSize ?? MAX_BATCH))
  const run = <T>(ctx: ProviderContext, fn: () => Promise<T>): Promise<T> => callMailchimp(ctx.signal, config, fn)

  return {
    provider: PROVIDER,
    entities: ['contact'],
    auth: {
      type: 'api_key',
      keyPattern: /^[0-9a-f]{32}-[a-z]{2,}\d+$/,
      oauth: { authorizePath: '/oauth2/authorize', tokenPath: '/oauth2/token', revokePath: null, scopes: [], pkce: false },
    },

    async verifyCredentials(ctx: ProviderContext): Promise<AccountInfo> {
      const client = createSdkClient(ctx, config)
      const { data } = await run(ctx, () => client.root.getRootWithHttpInfo({ fields: ['account_id', 'account_name'] }))
      return { accountId: data.account_id, name: data.account_name ?? null }
    },

    listChanges<E extends EntityName>(ctx: ProviderContext, entity: E, listOptions: ListOptions): AsyncIterable<ChangePage<E>> {
      if (entity !== 'contact') unsupported(entity)
      return listContacts(ctx, listOptions, config) as unknown as AsyncIterable<ChangePage<E>>
    },

    async fetchOne<E extends EntityName>(ctx: ProviderContext, entity: E, externalId: string): Promise<CanonicalRecord<E> | null> {
      if (entity !== 'contact') unsupported(entity)
      const id = parseContactExternalId(externalId)
      if (!id) throw new ProviderInvalidError(PROVIDER, `Not a Mailchimp contact id: ${externalId}`, { providerCode: 'bad_external_id' })
      const client = createSdkClient(ctx, config)
      try {
        const member = await run(ctx, () => client.lists.getListMember(id.listId, id.hash, { excludeFields: ['_links'] }))
        // An archived member is Mailchimp's deleted contact.
        return member.status === 'archived' ? null : (toContact(member, id.listId) as CanonicalRecord<E>)
      } catch (error) {
        if (error instanceof ProviderNotFoundError) return null
        throw error
      }
    },

    verifyWebhook(input: WebhookInput) {
      return verifyMailchimpWebhook(input, { toleranceSeconds: options.webhookToleranceSeconds ?? 3600, now })
    },

    // Mailchimp has no account-wide webhooks, only per audience, so the hub's URL is registered
    // on every audience (or the configured one) under one secret. The endpoint id lists them all
    // (`<listId>:<webhookId>,...`). Audiences created later have none until registration is
    // repeated; incremental sync still covers them.
    async registerWebhook(ctx: ProviderContext, url: string): Promise<WebhookRegistration> {
      const client = createSdkClient(ctx, config)
      const call = <T>(fn: () => Promise<T>): Promise<T> => run(ctx, fn)
      const { lists } = await enumerateLists(client, call, config)
      if (lists.length === 0) throw new ProviderInvalidError(PROVIDER, 'The Mailchimp account has no audience to attach a webhook to', { providerCode: 'no_audience' })
      const secret = newWebhookSecret()
      const target = withSecret(url, secret)
      const created: string[] = []
      try {
        for (const listId of lists) {
          const webhook = await call(() => client.lists.createListWebhook(listId, { url: target, events: WEBHOOK_EVENTS, sources: WEBHOOK_SOURCES }))
          created.push(`${listId}:${webhook.id}`)
        }
      } catch (error) {
        // All or nothing: a half-registered account would silently miss some audiences.
        await removeAll(created).catch(() => undefined)
        throw error
      }
      return { endpointId: created.join(','), secret }

      async function removeAll(ids: string[]): Promise<void> {
        for (const id of ids) {
          const [listId, webhookId] = id.split(':') as [string, string]
          await call(() => client.lists.deleteListWebhook(listId, webhookId))
        }
      }
    },

    async removeWebhook(ctx: ProviderContext, endpointId: string): Promise<void> {
      const client = createSdkClient(ctx, config)
      for (const id of endpointId.split(',').filter(Boolean)) {
        const [listId, webhookId] = id.split(':')
        if (!listId || !webhookId) throw new ProviderInvalidError(PROVIDER, `Not a Mailchimp webhook endpoint id: ${endpointId}`)
        try {
          await run(ctx, () => client.lists.deleteListWebhook(listId, webhookId))
        } catch (error) {
          // Already gone (deleted in Mailchimp, or the audience removed): the goal is reached.
          if (!(error instanceof ProviderNotFoundError)) throw error
        }
      }
    },

    oauth: {
      authorizeUrl: (params) => authorizeUrl(params),
      exchangeCode: (params) => exchangeCode(params, config),
      refresh: async () => refreshNotSupported(),
      revoke: async () => revokeNotSupported(),
    },

    // Batch subscribe (POST /lists/{id}) in chunks of at most 500 with update_existing, so a
    // push is an upsert. Mailchimp reports refused members per email inside a 200.
    async upsertContacts(ctx: ProviderContext, listId: string, members: MailchimpMemberUpsert[]): Promise<PushResult> {
      const client = createSdkClient(ctx, config)
      const result: PushResult = { succeeded: 0, failed: [] }
      for (let start = 0; start < members.length; start += batchSize) {
        const chunk = members.slice(start, start + batchSize)
        const body = {
          update_existing: true,
          members: chunk.map((member) => ({
            email_address: member.email,
            status: member.status,
            merge_fields: { ...(member.givenName ? { FNAME: member.givenName } : {}), ...(member.familyName ? { LNAME: member.familyName } : {}) },
          })),
        }
        try {
          const response = await run(ctx, () => client.lists.batchListMembers(listId, body))
          result.succeeded += response.total_created + response.total_updated
          for (const error of response.errors) result.failed.push({ key: error.email_address, code: error.error_code, message: error.error })
        } catch (error) {
          // A refused request fails its chunk and the push goes on; anything else (auth, rate
          // limit, outage) stops it for the engine to retry.
          if (!(error instanceof ProviderInvalidError)) throw error
          for (const member of chunk) result.failed.push({ key: member.email, code: error.providerCode ?? 'invalid', message: error.message })
        }
      }
      return result
    },
  }
}
