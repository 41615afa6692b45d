// The one typed client of the public API: openapi-fetch over the types openapi-typescript generates
// from the merged OpenAPI document (schema.d.ts, by scripts/generate-api-client.ts). The console and
// the system tests both import it, so a route that drifts from its document breaks both.
// Browser-safe: no Node built-ins and nothing heavy (the console's first-load budget); the
// response-checking middleware lives in `@hub/api-client/conformance`.
import createClient, { type Client, type Middleware } from 'openapi-fetch'
import type { paths } from './schema.d.ts'

export type { paths, components, operations } from './schema.d.ts'
export type { Middleware } from 'openapi-fetch'
export type ApiClient = Client<paths>

/** A bearer token, or where to read the current one at each call (a console session changes). */
export type TokenSource = string | (() => string | null | undefined)

export interface ApiClientOptions {
  /** Another fetch (e.g. with a timeout); the global one by default. */
  fetch?: (request: Request) => Promise<Response>
  /** Run on every call, after the token is set (e.g. checking responses against the document). */
  middleware?: Middleware[]
}

export function createApiClient(baseUrl: string, token?: TokenSource, options: ApiClientOptions = {}): ApiClient {
  const client = createClient<paths>({ baseUrl, ...(options.fetch ? { fetch: options.fetch } : {}) })
  if (token !== undefined) {
    client.use({
      onRequest({ request }) {
        const value = typeof token === 'function' ? token() : token
        if (value) request.headers.set('authorization', `Bearer ${value}`)
        return request
      },
    })
  }
  if (options.middleware?.length) client.use(...options.middleware)
  return client
}
