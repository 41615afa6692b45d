// The official @mailchimp/mailchimp_marketing SDK, one ApiClient per call context. The package's
// default export is a module-level singleton configured by setConfig, which two connections
// synced at once would overwrite for each other, so we construct ApiClient ourselves (it builds
// its own ListsApi, RootApi, ... bound to itself) and never touch the singleton.
import { createRequire } from 'node:module'
import { ProviderAuthError } from '../provider-errors.ts'
import type { ProviderContext } from '../provider-adapter.ts'

/** A member as the Marketing API returns it (the fields the hub reads; `raw` keeps the rest). */
export interface MailchimpMember {
  id: string
  email_address: string
  status: string
  merge_fields?: Record<string, unknown>
  last_changed?: string
  list_id?: string
  [field: string]: unknown
}

export interface MailchimpList {
  id: string
  name: string
  stats?: { member_count?: number }
}

export interface MembersPage {
  members: MailchimpMember[]
  list_id: string
  total_items: number
}

export interface BatchResult {
  new_members: MailchimpMember[]
  updated_members: MailchimpMember[]
  errors: Array<{ email_address: string; error: string; error_code: string; field?: string; field_message?: string }>
  total_created: number
  total_updated: number
  error_count: number
}

export interface ListWebhook {
  id: string
  url: string
  list_id: string
}

/** superagent's response, as the SDK's `*WithHttpInfo` methods hand it back. */
export interface SdkResponse {
  status: number
  headers: Record<string, string | undefined>
}

export interface WithHttpInfo<T> {
  data: T
  response: SdkResponse
}

type Opts = Record<string, unknown>

export interface MailchimpSdkClient {
  basePath: string
  timeout: number
  setConfig(config: { apiKey?: string; accessToken?: string; server?: string }): void
  buildUrl(path: string, pathParams: Record<string, string>): string
  root: { getRootWithHttpInfo(opts?: Opts): Promise<WithHttpInfo<{ account_id: string; account_name?: string; login_id?: string }>> }
  ping: { get(): Promise<{ health_status: string }> }
  lists: {
    getAllListsWithHttpInfo(opts?: Opts): Promise<WithHttpInfo<{ lists: MailchimpList[]; total_items: number }>>
    getListWithHttpInfo(listId: string, opts?: Opts): Promise<WithHttpInfo<MailchimpList>>
    getListMembersInfoWithHttpInfo(listId: string, opts?: Opts): Promise<WithHttpInfo<MembersPage>>
    getListMember(listId: string, subscriberHash: string, opts?: Opts): Promise<MailchimpMember>
    batchListMembers(listId: string, body: unknown, opts?: Opts): Promise<BatchResult>
    createListWebhook(listId: string, body: unknown): Promise<ListWebhook>
    getListWebhooks(listId: string): Promise<{ webhooks: ListWebhook[] }>
    deleteListWebhook(listId: string, webhookId: string): Promise<unknown>
  }
}

type ApiClientConstructor = new () => MailchimpSdkClient

const require = createRequire(import.meta.url)
const ApiClient = require('@mailchimp/mailchimp_marketing/src/ApiClient.js') as ApiClientConstructor

const API_KEY = /^[0-9a-f]{32}-([a-z]{2,}\d+)$/

/** The data centre of the credentials: explicit (OAuth metadata) or the API key's suffix. */
export function dataCentreOf(ctx: ProviderContext): string | undefined {
  return ctx.credentials.dc ?? API_KEY.exec(ctx.credentials.apiKey ?? '')?.[1]
}

/**
 * `${baseUrl}/3.0`. A `{dc}` placeholder in the configured base URL (production:
 * `https://{dc}.api.mailchimp.com`) is filled with the credentials' data centre here, explicitly.
 */
export function resolveBasePath(ctx: ProviderContext): string {
  let base = ctx.baseUrl.replace(/\/+$/, '')
  if (base.includes('{dc}')) {
    const dc = dataCentreOf(ctx)
    if (!dc) throw new ProviderAuthError('mailchimp', 'No Mailchimp data centre: the API key has no -<dc> suffix and none was stored', { providerCode: 'missing_dc' })
    base = base.replaceAll('{dc}', dc)
  }
  return base.endsWith('/3.0') ? base : `${base}/3.0`
}

export interface ClientOptions {
  timeoutMs: number
}

export function createSdkClient(ctx: ProviderContext, options: ClientOptions): MailchimpSdkClient {
  const { apiKey, accessToken } = ctx.credentials
  if (!apiKey && !accessToken) throw new ProviderAuthError('mailchimp', 'No Mailchimp API key or access token', { providerCode: 'missing_credentials' })
  const client = new ApiClient()
  client.basePath = resolveBasePath(ctx)
  // superagent's whole-request deadline; the SDK never retries (it never calls .retry()).
  client.timeout = options.timeoutMs
  // No `server` key on purpose: buildUrl replaces the first literal "server" anywhere in the URL
  // with config.server whenever that key is defined, which would corrupt a base URL containing
  // the word (a `server.internal` host, a `/mailchimp-server/` prefix).
  client.setConfig(apiKey ? { apiKey } : { accessToken: accessToken as string })
  return client
}
