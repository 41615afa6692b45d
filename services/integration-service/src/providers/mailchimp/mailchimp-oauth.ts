// Mailchimp OAuth 2 (login.mailchimp.com). The marketing SDK does not cover it, so these are
// plain undici requests. Mailchimp issues access tokens that never expire (`expires_in: 0`),
// no refresh tokens, and has no revocation endpoint (a user disconnects the app in Mailchimp).
// Which data centre the account lives in comes from /oauth2/metadata.
import { request } from 'undici'
import type { OAuthTokens, ProviderContext } from '../provider-adapter.ts'
import { ProviderAuthError, ProviderInvalidError, ProviderRateLimitedError, ProviderUnavailableError } from '../provider-errors.ts'
import { callMailchimp } from './mailchimp-errors.ts'
import type { ErrorMappingOptions } from './mailchimp-errors.ts'
import { createSdkClient } from './mailchimp-sdk.ts'

const PROVIDER = 'mailchimp'

export interface OAuthConfig extends ErrorMappingOptions {
  timeoutMs: number
  now: () => number
}

function join(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`
}

export function authorizeUrl(params: { authBaseUrl: string; clientId: string; redirectUri: string; state: string }): string {
  const url = new URL(join(params.authBaseUrl, '/oauth2/authorize'))
  url.searchParams.set('response_type', 'code')
  url.searchParams.set('client_id', params.clientId)
  url.searchParams.set('redirect_uri', params.redirectUri)
  url.searchParams.set('state', params.state)
  return url.toString()
}

async function send(url: string, init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string }, config: OAuthConfig): Promise<Record<string, unknown>> {
  let response
  try {
    response = await request(url, { ...init, headersTimeout: config.timeoutMs, bodyTimeout: config.timeoutMs })
  } catch (error) {
    throw new ProviderUnavailableError(PROVIDER, `Mailchimp OAuth request failed: ${(error as Error).message}`, { cause: error })
  }
  const text = await response.body.text()
  let body: Record<string, unknown> = {}
  try {
    body = JSON.parse(text) as Record<string, unknown>
  } catch {
    // Non-JSON bodies (HTML error pages) only matter through their status.
  }
  const status = response.statusCode
  if (status >= 200 && status < 300) return body
  const code = typeof body.error === 'string' ? body.error : undefined
  const message = `Mailchimp OAuth ${status}${code ? ` ${code}` : ''}: ${typeof body.error_description === 'string' ? body.error_description : text.slice(0, 200)}`
  const details = { status, ...(code ? { providerCode: code } : {}) }
  if (status === 429) throw new ProviderRateLimitedError(PROVIDER, message, config.rateLimitWaitMs, details)
  if (status >= 500) throw new ProviderUnavailableError(PROVIDER, message, details)
  // A code that is bad, used or expired means the user must authorize again.
  if (status === 401 || code === 'invalid_grant' || code === 'invalid_client') throw new ProviderAuthError(PROVIDER, message, details)
  throw new ProviderInvalidError(PROVIDER, message, details)
}

export async function exchangeCode(params: { authBaseUrl: string; clientId: string; clientSecret: string; code: string; redirectUri: string }, config: OAuthConfig): Promise<OAuthTokens> {
  const token = await send(
    join(params.authBaseUrl, '/oauth2/token'),
    {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        client_id: params.clientId,
        client_secret: params.clientSecret,
        redirect_uri: params.redirectUri,
        code: params.code,
      }).toString(),
    },
    config,
  )
  const accessToken = token.access_token
  if (typeof accessToken !== 'string' || accessToken === '') throw new ProviderInvalidError(PROVIDER, 'Mailchimp token response has no access_token')
  const metadata = await send(join(params.authBaseUrl, '/oauth2/metadata'), { method: 'GET', headers: { authorization: `OAuth ${accessToken}`, accept: 'application/json' } }, config)
  const dc = typeof metadata.dc === 'string' ? metadata.dc : undefined
  const apiEndpoint = typeof metadata.api_endpoint === 'string' ? metadata.api_endpoint : undefined
  // The account id the rest of the adapter reports is the API root's account_id, so ask it.
  let accountId: string | undefined
  if (apiEndpoint) {
    const ctx: ProviderContext = { baseUrl: apiEndpoint, credentials: { accessToken, ...(dc ? { dc } : {}) } }
    const client = createSdkClient(ctx, config)
    const root = await callMailchimp(undefined, config, () => client.root.getRootWithHttpInfo({ fields: ['account_id'] }))
    accountId = root.data.account_id
  }
  const expiresIn = typeof token.expires_in === 'number' ? token.expires_in : 0
  return {
    accessToken,
    refreshToken: null,
    // 0 is Mailchimp's "never".
    expiresAt: expiresIn > 0 ? new Date(config.now() + expiresIn * 1000).toISOString() : null,
    ...(dc ? { dc } : {}),
    ...(accountId ? { accountId } : {}),
    ...(typeof token.scope === 'string' ? { scope: token.scope } : {}),
  }
}

export function refreshNotSupported(): never {
  throw new ProviderAuthError(PROVIDER, 'Mailchimp issues no refresh tokens (its access tokens do not expire): the user must authorize again', {
    providerCode: 'refresh_not_supported',
  })
}

export function revokeNotSupported(): never {
  throw new ProviderInvalidError(PROVIDER, 'Mailchimp has no token revocation endpoint: the user removes the app under Account > Connected sites/apps', {
    providerCode: 'revoke_not_supported',
  })
}
