// Intuit OAuth 2.0: authorization code grant with HTTP Basic client authentication. The realm
// (company) id comes back on the redirect, not from the token endpoint, so exchangeCode takes it
// as an extra parameter and hands it back in the tokens. Refresh tokens rotate: the refresh
// answer's refresh_token replaces the one sent, which is refused (invalid_grant) afterwards, so
// callers must persist it before anything else and never refresh one connection concurrently.
import { Agent, request } from 'undici'
import type { OAuthDescription, OAuthTokens } from '../provider-adapter.ts'
import { ProviderAuthError, ProviderInvalidError, ProviderRateLimitedError, ProviderUnavailableError, parseRetryAfter } from '../provider-errors.ts'
import { DEFAULT_THROTTLE_WAIT_MS, mapTransportError, PROVIDER } from './quickbooks-errors.ts'

export const QBO_OAUTH: OAuthDescription = {
  authorizePath: '/connect/oauth2',
  tokenPath: '/oauth2/v1/tokens/bearer',
  // Intuit's public revoke URL is developer.api.intuit.com/v2/oauth2/tokens/revoke; the
  // simulator serves both paths.
  revokePath: '/oauth2/v1/tokens/revoke',
  scopes: ['com.intuit.quickbooks.accounting'],
  // Intuit does not require PKCE for confidential clients; a challenge, when given, is passed on.
  pkce: false,
}

export interface OAuthHttpOptions {
  timeoutMs: number
  connectTimeoutMs: number
}

function join(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`
}

export function authorizeUrl(params: { authBaseUrl: string; clientId: string; redirectUri: string; state: string; codeChallenge?: string }): string {
  const url = new URL(join(params.authBaseUrl, QBO_OAUTH.authorizePath))
  url.searchParams.set('client_id', params.clientId)
  url.searchParams.set('response_type', 'code')
  url.searchParams.set('scope', QBO_OAUTH.scopes.join(' '))
  url.searchParams.set('redirect_uri', params.redirectUri)
  url.searchParams.set('state', params.state)
  if (params.codeChallenge) {
    url.searchParams.set('code_challenge', params.codeChallenge)
    url.searchParams.set('code_challenge_method', 'S256')
  }
  return url.toString()
}

/** Reads `code`, `state` and `realmId` (or `error`) from Intuit's redirect back to the app. */
export function parseCallback(callbackUrl: string): { code: string | null; state: string | null; realmId: string | null; error: string | null } {
  const url = new URL(callbackUrl)
  return {
    code: url.searchParams.get('code'),
    state: url.searchParams.get('state'),
    realmId: url.searchParams.get('realmId'),
    error: url.searchParams.get('error'),
  }
}

async function post(
  url: string,
  clientId: string,
  clientSecret: string,
  body: { contentType: string; text: string },
  options: OAuthHttpOptions,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; json: Record<string, unknown> }> {
  const agent = new Agent({ connect: { timeout: options.connectTimeoutMs }, headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs })
  try {
    const response = await request(url, {
      method: 'POST',
      dispatcher: agent,
      headers: {
        authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
        accept: 'application/json',
        'content-type': body.contentType,
      },
      body: body.text,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    })
    const text = await response.body.text()
    let json: Record<string, unknown> = {}
    try {
      const parsed: unknown = text ? JSON.parse(text) : {}
      if (parsed && typeof parsed === 'object') json = parsed as Record<string, unknown>
    } catch {
      // Intuit's auth hosts answer some failures with HTML; the status decides.
    }
    return { status: response.statusCode, headers: response.headers, json }
  } catch (error) {
    throw mapTransportError(error, undefined)
  } finally {
    await agent.destroy()
  }
}

function oauthFailure(status: number, headers: Record<string, string | string[] | undefined>, json: Record<string, unknown>): Error {
  const code = typeof json.error === 'string' ? json.error : undefined
  const message = `Intuit OAuth ${status}${code ? `: ${code}` : ''}${typeof json.error_description === 'string' ? ` (${json.error_description})` : ''}`
  const options = { status, ...(code ? { providerCode: code } : {}) }
  if (status === 429) {
    const retry = headers['retry-after']
    return new ProviderRateLimitedError(PROVIDER, message, parseRetryAfter(Array.isArray(retry) ? retry[0] : retry) ?? DEFAULT_THROTTLE_WAIT_MS, options)
  }
  if (status >= 500) return new ProviderUnavailableError(PROVIDER, message, options)
  if (status === 401 || code === 'invalid_grant' || code === 'invalid_client' || code === 'unauthorized_client') return new ProviderAuthError(PROVIDER, message, options)
  return new ProviderInvalidError(PROVIDER, message, options)
}

function toTokens(json: Record<string, unknown>, realmId: string | undefined): OAuthTokens {
  if (typeof json.access_token !== 'string') throw new ProviderUnavailableError(PROVIDER, 'Intuit token answer without access_token')
  const expiresIn = typeof json.expires_in === 'number' ? json.expires_in : Number(json.expires_in)
  return {
    accessToken: json.access_token,
    refreshToken: typeof json.refresh_token === 'string' ? json.refresh_token : null,
    expiresAt: Number.isFinite(expiresIn) ? new Date(Date.now() + expiresIn * 1000).toISOString() : null,
    ...(realmId ? { realmId } : {}),
    scope: QBO_OAUTH.scopes.join(' '),
  }
}

export async function exchangeCode(params: { authBaseUrl: string; clientId: string; clientSecret: string; code: string; redirectUri: string; codeVerifier?: string; realmId?: string }, options: OAuthHttpOptions): Promise<OAuthTokens> {
  const form = new URLSearchParams({ grant_type: 'authorization_code', code: params.code, redirect_uri: params.redirectUri })
  if (params.codeVerifier) form.set('code_verifier', params.codeVerifier)
  const { status, headers, json } = await post(join(params.authBaseUrl, QBO_OAUTH.tokenPath), params.clientId, params.clientSecret, { contentType: 'application/x-www-form-urlencoded', text: form.toString() }, options)
  if (status !== 200) throw oauthFailure(status, headers, json)
  return toTokens(json, params.realmId)
}

export async function refreshTokens(params: { authBaseUrl: string; clientId: string; clientSecret: string; refreshToken: string }, options: OAuthHttpOptions): Promise<OAuthTokens> {
  const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: params.refreshToken })
  const { status, headers, json } = await post(join(params.authBaseUrl, QBO_OAUTH.tokenPath), params.clientId, params.clientSecret, { contentType: 'application/x-www-form-urlencoded', text: form.toString() }, options)
  if (status !== 200) throw oauthFailure(status, headers, json)
  return toTokens(json, undefined)
}

export async function revokeToken(params: { authBaseUrl: string; clientId: string; clientSecret: string; token: string }, options: OAuthHttpOptions): Promise<void> {
  const path = QBO_OAUTH.revokePath ?? '/oauth2/v1/tokens/revoke'
  const { status, headers, json } = await post(join(params.authBaseUrl, path), params.clientId, params.clientSecret, { contentType: 'application/json', text: JSON.stringify({ token: params.token }) }, options)
  if (status !== 200) throw oauthFailure(status, headers, json)
}
