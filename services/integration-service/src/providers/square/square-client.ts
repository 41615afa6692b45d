// One SquareClient per call context: credentials differ per connection and two connections may
// sync at once, so a shared client would leak tokens between them. SDK retries are off (the sync
// engine owns retries and must see every 429/5xx) and every request has a timeout.
import { SquareClient } from 'square'
import type { ProviderContext } from '../provider-adapter.ts'
import { ProviderAuthError } from '../provider-errors.ts'

export interface SquareClientSettings {
  timeoutSeconds: number
}

export function squareToken(ctx: ProviderContext): string {
  // Never let the SDK fall back to the SQUARE_TOKEN environment variable.
  const token = ctx.credentials.accessToken ?? ctx.credentials.apiKey
  if (!token) throw new ProviderAuthError('square', 'No Square access token in the connection credentials')
  return token
}

export function createSquareClient(ctx: ProviderContext, settings: SquareClientSettings): SquareClient {
  return new SquareClient({ token: squareToken(ctx), baseUrl: ctx.baseUrl, maxRetries: 0, timeoutInSeconds: settings.timeoutSeconds })
}

/** A client for the OAuth endpoints, which authenticate with client credentials, not a token. */
export function createSquareOAuthClient(authBaseUrl: string, settings: SquareClientSettings): SquareClient {
  return new SquareClient({ baseUrl: authBaseUrl, auth: false, maxRetries: 0, timeoutInSeconds: settings.timeoutSeconds })
}

export function requestOptions(ctx: ProviderContext): { abortSignal?: AbortSignal } {
  return ctx.signal ? { abortSignal: ctx.signal } : {}
}
