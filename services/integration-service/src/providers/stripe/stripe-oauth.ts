// Stripe Connect OAuth (Standard accounts): no PKCE, no token expiry; the platform's secret key
// is the client secret, and the access token it receives is a secret key of the connected account.
import Stripe from 'stripe'
import type { OAuthTokens } from '../provider-adapter.ts'
import { ProviderAuthError } from '../provider-errors.ts'
import { sdkConfig, type StripeClientOptions } from './stripe-client.ts'
import { call } from './stripe-errors.ts'

export const CONNECT_SCOPE = 'read_write'

function platformClient(authBaseUrl: string, clientSecret: string, options: StripeClientOptions): Stripe {
  return new Stripe(clientSecret, sdkConfig(authBaseUrl, options))
}

function tokens(response: Stripe.OAuthToken): OAuthTokens {
  if (!response.access_token) throw new ProviderAuthError('stripe', 'Stripe returned no access token')
  return {
    accessToken: response.access_token,
    refreshToken: response.refresh_token ?? null,
    expiresAt: null,
    accountId: response.stripe_user_id,
    scope: response.scope,
  }
}

export function authorizeUrl(params: { authBaseUrl: string; clientId: string; redirectUri: string; state: string }): string {
  // Built here rather than with stripe.oauth.authorizeUrl, which always emits https://<host>.
  const url = new URL('/oauth/authorize', params.authBaseUrl)
  url.searchParams.set('response_type', 'code')
  url.searchParams.set('client_id', params.clientId)
  url.searchParams.set('scope', CONNECT_SCOPE)
  url.searchParams.set('redirect_uri', params.redirectUri)
  url.searchParams.set('state', params.state)
  return url.toString()
}

export async function exchangeCode(params: { authBaseUrl: string; clientSecret: string; code: string }, options: StripeClientOptions): Promise<OAuthTokens> {
  const client = platformClient(params.authBaseUrl, params.clientSecret, options)
  return tokens(await call(() => client.oauth.token({ grant_type: 'authorization_code', code: params.code })))
}

export async function refreshToken(params: { authBaseUrl: string; clientSecret: string; refreshToken: string }, options: StripeClientOptions): Promise<OAuthTokens> {
  const client = platformClient(params.authBaseUrl, params.clientSecret, options)
  return tokens(await call(() => client.oauth.token({ grant_type: 'refresh_token', refresh_token: params.refreshToken })))
}

/**
 * Deauthorizes the connected account. Stripe revokes by account id, so `accountId` (or `token`)
 * may be the `acct_` id itself, or `token` the account's access token (whose account is looked up
 * first; a token that no longer works means access is already gone).
 */
export async function revoke(params: { authBaseUrl: string; clientId: string; clientSecret: string; token: string; accountId?: string | null }, options: StripeClientOptions): Promise<void> {
  // The account id when known: a refresh token cannot look its account up, and treating that as
  // "access already gone" left every Connect grant standing after a disconnect.
  let accountId = params.accountId?.startsWith('acct_') ? params.accountId : params.token
  if (!accountId.startsWith('acct_')) {
    try {
      const account = await call(() => new Stripe(params.token, sdkConfig(params.authBaseUrl, options)).accounts.retrieveCurrent())
      accountId = account.id
    } catch (error) {
      if (error instanceof ProviderAuthError) return
      throw error
    }
  }
  const client = platformClient(params.authBaseUrl, params.clientSecret, options)
  await call(() => client.oauth.deauthorize({ client_id: params.clientId, stripe_user_id: accountId }))
}
