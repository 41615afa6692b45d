// Square OAuth (code flow with PKCE) through the SDK's OAuth client. Square's token endpoint
// authenticates with client_id + client_secret (or code_verifier for PKCE), revoke with an
// `Authorization: Client <secret>` header; neither takes a bearer token.
import type { Square } from 'square'
import type { OAuthDescription, OAuthTokens, ProviderAdapter } from '../provider-adapter.ts'
import type { SquareClientSettings } from './square-client.ts'
import { createSquareOAuthClient } from './square-client.ts'
import { callSquare } from './square-errors.ts'
import { ProviderAuthError } from '../provider-errors.ts'

export const SQUARE_SCOPES = ['MERCHANT_PROFILE_READ', 'CUSTOMERS_READ', 'PAYMENTS_READ', 'ITEMS_READ']

export const SQUARE_OAUTH: OAuthDescription = {
  authorizePath: '/oauth2/authorize',
  tokenPath: '/oauth2/token',
  revokePath: '/oauth2/revoke',
  scopes: SQUARE_SCOPES,
  pkce: true,
}

function joinUrl(base: string, path: string): URL {
  return new URL(path.replace(/^\//, ''), base.endsWith('/') ? base : `${base}/`)
}

function tokens(response: Square.ObtainTokenResponse): OAuthTokens {
  if (!response.accessToken) throw new ProviderAuthError('square', 'Square returned no access token')
  return {
    accessToken: response.accessToken,
    refreshToken: response.refreshToken ?? null,
    expiresAt: response.expiresAt ? new Date(response.expiresAt).toISOString() : null,
    ...(response.merchantId ? { accountId: response.merchantId } : {}),
  }
}

export function createSquareOAuth(settings: SquareClientSettings): NonNullable<ProviderAdapter['oauth']> {
  return {
    authorizeUrl({ authBaseUrl, clientId, redirectUri, state, codeChallenge }) {
      const url = joinUrl(authBaseUrl, SQUARE_OAUTH.authorizePath)
      url.searchParams.set('client_id', clientId)
      url.searchParams.set('scope', SQUARE_SCOPES.join(' '))
      // session=false always shows the seller the sign-in page, so they pick the right account.
      url.searchParams.set('session', 'false')
      url.searchParams.set('state', state)
      url.searchParams.set('redirect_uri', redirectUri)
      if (codeChallenge) {
        url.searchParams.set('code_challenge', codeChallenge)
        url.searchParams.set('code_challenge_method', 'S256')
      }
      return url.toString()
    },

    async exchangeCode({ authBaseUrl, clientId, clientSecret, code, redirectUri, codeVerifier }) {
      const client = createSquareOAuthClient(authBaseUrl, settings)
      // The PKCE flow proves possession with the verifier instead of the secret.
      const request: Square.ObtainTokenRequest = codeVerifier ? { clientId, code, redirectUri, grantType: 'authorization_code', codeVerifier } : { clientId, clientSecret, code, redirectUri, grantType: 'authorization_code' }
      return tokens(await callSquare(undefined, () => client.oAuth.obtainToken(request)))
    },

    async refresh({ authBaseUrl, clientId, clientSecret, refreshToken }) {
      const client = createSquareOAuthClient(authBaseUrl, settings)
      return tokens(await callSquare(undefined, () => client.oAuth.obtainToken({ clientId, clientSecret, refreshToken, grantType: 'refresh_token' })))
    },

    async revoke({ authBaseUrl, clientId, clientSecret, token, accountId }) {
      const client = createSquareOAuthClient(authBaseUrl, settings)
      // Square revokes every token of this (seller, application) pair, refresh token included. It
      // takes an access token or the seller, never a refresh token (what a connection hands over
      // when it has one): by seller when known.
      await callSquare(undefined, () => client.oAuth.revokeToken({ clientId, ...(accountId ? { merchantId: accountId } : { accessToken: token }) }, { headers: { Authorization: `Client ${clientSecret}` } }))
    },
  }
}
