// A small REST client for the QuickBooks Accounting API v3 over undici. One instance (with its
// own connection pool) per call context: connections never share sockets, tokens or realms.
// No retries here: the sync engine owns retry and backoff.
import { Agent, request } from 'undici'
import type { ProviderContext } from '../provider-adapter.ts'
import { ProviderAuthError, ProviderUnavailableError } from '../provider-errors.ts'
import { mapHttpError, mapTransportError, parseIntuitFault, PROVIDER } from './quickbooks-errors.ts'

export type QboObject = Record<string, unknown>
export type QboEntityName = 'Customer' | 'Item' | 'Invoice' | 'Payment' | 'SalesReceipt'

export interface QuickBooksClientOptions {
  /** Time to wait for response headers, and between body chunks. */
  timeoutMs: number
  connectTimeoutMs: number
  minorVersion: string
}

export interface QboResponse {
  body: QboObject
  /** The server's `time` field (epoch ms): Intuit's clock, which stamps LastUpdatedTime. */
  serverTime: number | null
}

export interface CdcResult {
  /** Objects of the entity, oldest change first; deleted ones carry `status: "Deleted"`. */
  objects: QboObject[]
  serverTime: number | null
}

export class QuickBooksClient {
  readonly realmId: string
  readonly #base: string
  readonly #token: string
  readonly #signal: AbortSignal | undefined
  readonly #options: QuickBooksClientOptions
  readonly #agent: Agent

  constructor(ctx: ProviderContext, options: QuickBooksClientOptions) {
    const { accessToken, realmId } = ctx.credentials
    if (!accessToken) throw new ProviderAuthError(PROVIDER, 'QuickBooks connection has no OAuth access token')
    if (!realmId || !/^\d+$/.test(realmId)) throw new ProviderAuthError(PROVIDER, 'QuickBooks connection has no valid realm (company) id')
    this.realmId = realmId
    this.#token = accessToken
    this.#signal = ctx.signal
    this.#options = options
    this.#base = `${ctx.baseUrl.replace(/\/+$/, '')}/v3/company/${encodeURIComponent(realmId)}`
    this.#agent = new Agent({
      connect: { timeout: options.connectTimeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connections: 4,
    })
  }

  async close(): Promise<void> {
    await this.#agent.destroy()
  }

  async #send(method: 'GET' | 'POST', path: string, query: Record<string, string>, body?: { contentType: string; text: string }): Promise<QboResponse> {
    const url = new URL(`${this.#base}${path}`)
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value)
    url.searchParams.set('minorversion', this.#options.minorVersion)
    let response: Awaited<ReturnType<typeof request>>
    let text: string
    try {
      response = await request(url, {
        method,
        dispatcher: this.#agent,
        headers: {
          authorization: `Bearer ${this.#token}`,
          // Without it QuickBooks answers in XML.
          accept: 'application/json',
          ...(body ? { 'content-type': body.contentType } : {}),
        },
        ...(body ? { body: body.text } : {}),
        headersTimeout: this.#options.timeoutMs,
        bodyTimeout: this.#options.timeoutMs,
        ...(this.#signal ? { signal: this.#signal } : {}),
      })
      text = await response.body.text()
    } catch (error) {
      throw mapTransportError(error, this.#signal)
    }
    let parsed: unknown
    try {
      parsed = text === '' ? {} : JSON.parse(text)
    } catch {
      if (response.statusCode >= 400) throw mapHttpError(response.statusCode, response.headers, undefined)
      throw new ProviderUnavailableError(PROVIDER, `QuickBooks answered ${response.statusCode} with a body that is not JSON`, { status: response.statusCode })
    }
    // Intuit occasionally wraps a fault in a 200; treat it like the 400 it means.
    if (response.statusCode >= 400 || parseIntuitFault(parsed)) throw mapHttpError(response.statusCode >= 400 ? response.statusCode : 400, response.headers, parsed)
    const result = (parsed && typeof parsed === 'object' ? parsed : {}) as QboObject
    const serverTime = typeof result.time === 'string' ? Date.parse(result.time) : Number.NaN
    return { body: result, serverTime: Number.isNaN(serverTime) ? null : serverTime }
  }

  get(path: string, query: Record<string, string> = {}): Promise<QboResponse> {
    return this.#send('GET', path, query)
  }

  post(path: string, payload: unknown, query: Record<string, string> = {}): Promise<QboResponse> {
    return this.#send('POST', path, query, { contentType: 'application/json', text: JSON.stringify(payload) })
  }

  /** Runs a query (POSTed as application/text, so long WHERE clauses never hit URL limits). */
  async query(entity: QboEntityName, text: string): Promise<{ objects: QboObject[]; serverTime: number | null; raw: QboObject }> {
    const response = await this.#send('POST', '/query', {}, { contentType: 'application/text', text })
    const queryResponse = (response.body.QueryResponse ?? {}) as QboObject
    const objects = queryResponse[entity]
    return { objects: Array.isArray(objects) ? (objects as QboObject[]) : [], serverTime: response.serverTime, raw: queryResponse }
  }

  async cdc(entity: QboEntityName, changedSince: string): Promise<CdcResult> {
    const response = await this.get('/cdc', { entities: entity, changedSince })
    const cdc = response.body.CDCResponse
    const first = (Array.isArray(cdc) ? cdc[0] : undefined) as QboObject | undefined
    const queryResponses = Array.isArray(first?.QueryResponse) ? (first.QueryResponse as QboObject[]) : []
    const objects: QboObject[] = []
    for (const entry of queryResponses) {
      const list = entry?.[entity]
      if (Array.isArray(list)) objects.push(...(list as QboObject[]))
    }
    return { objects, serverTime: response.serverTime }
  }

  async read(entity: QboEntityName, id: string): Promise<QboObject> {
    const response = await this.get(`/${entity.toLowerCase()}/${encodeURIComponent(id)}`)
    const object = response.body[entity]
    if (!object || typeof object !== 'object') throw new ProviderUnavailableError(PROVIDER, `QuickBooks read of ${entity} ${id} returned no ${entity}`)
    return object as QboObject
  }

  async companyInfo(): Promise<QboObject> {
    const response = await this.get(`/companyinfo/${this.realmId}`)
    return (response.body.CompanyInfo ?? {}) as QboObject
  }

  async homeCurrency(): Promise<string | null> {
    const response = await this.get('/preferences')
    const preferences = (response.body.Preferences ?? {}) as QboObject
    const home = ((preferences.CurrencyPrefs ?? {}) as QboObject).HomeCurrency as { value?: unknown } | undefined
    return typeof home?.value === 'string' ? home.value.toUpperCase() : null
  }
}
