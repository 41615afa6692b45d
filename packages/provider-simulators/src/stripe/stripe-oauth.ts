// Stripe Connect OAuth (Standard accounts). The authorize page is replaced by an automatic
// approval that redirects straight back; `/oauth/token` and `/oauth/deauthorize` are called by
// the platform with its secret key, and answer errors in OAuth's `{error, error_description}`
// shape, which the SDK turns into StripeInvalidGrantError and friends.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { expiredKeyError, invalidKeyError, missingKeyError, requestKey } from './stripe-errors.ts'
import { newId } from './stripe-ids.ts'
import { asParams, optString, type Params } from './stripe-params.ts'
import { nowSeconds, type SimAccount, type StripeState } from './stripe-state.ts'

const CLIENT_ID = /^ca_[A-Za-z0-9]{8,}$/
const SCOPES = ['read_write', 'read_only']

function oauthError(reply: FastifyReply, status: number, error: string, description: string): FastifyReply {
  return reply.code(status).send({ error, error_description: description })
}

function redirectWith(reply: FastifyReply, redirectUri: string, params: Record<string, string>): FastifyReply {
  const url = new URL(redirectUri)
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value)
  return reply.code(302).header('Location', url.toString()).send()
}

/** The platform calling: secret key in the Authorization header or as `client_secret`. */
function platformOf(state: StripeState, request: FastifyRequest, params: Params): SimAccount {
  const key = requestKey(request.headers.authorization) ?? optString(params, 'client_secret') ?? null
  if (!key) throw missingKeyError()
  const resolved = state.resolveKey(key)
  if (resolved.status === 'malformed') throw invalidKeyError(key)
  if (resolved.status === 'revoked') throw expiredKeyError(key)
  if (resolved.credential.kind !== 'secret') throw invalidKeyError(key)
  return resolved.account
}

function tokenResponse(state: StripeState, platform: SimAccount, accountId: string, clientId: string, scope: string, refreshToken: string, code?: string): Record<string, unknown> {
  const accessToken = newId(state.rng, 'sk_test')
  state.credentials.set(accessToken, { key: accessToken, accountId, kind: 'oauth', revoked: false, platformId: platform.id, clientId, code })
  return {
    access_token: accessToken,
    livemode: false,
    refresh_token: refreshToken,
    scope,
    stripe_publishable_key: newId(state.rng, 'pk_test'),
    stripe_user_id: accountId,
    token_type: 'bearer',
  }
}

export function registerOAuthRoutes(app: FastifyInstance, state: StripeState): void {
  app.get('/oauth/authorize', async (request, reply) => {
    const params = asParams(request.query)
    const clientId = optString(params, 'client_id')
    if (!clientId || !CLIENT_ID.test(clientId)) return oauthError(reply, 400, 'invalid_request', `No such application: '${clientId ?? ''}'`)
    const redirectUri = optString(params, 'redirect_uri')
    if (!redirectUri || !URL.canParse(redirectUri)) return oauthError(reply, 400, 'invalid_redirect_uri', 'Invalid redirect URI. A redirect_uri must be provided and be a valid absolute URL.')
    const oauthState = optString(params, 'state')
    const echo: Record<string, string> = oauthState === undefined ? {} : { state: oauthState }
    if ((optString(params, 'response_type') ?? 'code') !== 'code') {
      return redirectWith(reply, redirectUri, { error: 'unsupported_response_type', error_description: 'Only response_type=code is supported', ...echo })
    }
    const scope = optString(params, 'scope') ?? 'read_only'
    if (!SCOPES.includes(scope)) return redirectWith(reply, redirectUri, { error: 'invalid_scope', error_description: `Invalid scope: ${scope}`, ...echo })
    // Simulator-only knobs standing in for the user's choices on the consent page.
    if (optString(params, 'sim_deny') === '1') {
      return redirectWith(reply, redirectUri, { error: 'access_denied', error_description: 'The user denied your request', ...echo })
    }
    const existing = optString(params, 'sim_account')
    const account = existing ? state.accounts.get(existing) : state.createConnectedAccount()
    if (!account) return oauthError(reply, 400, 'invalid_request', `No such account: '${existing}'`)
    const code = newId(state.rng, 'ac')
    state.authorizationCodes.set(code, { code, clientId, accountId: account.id, scope, redirectUri, expiresAt: nowSeconds() + state.authorizationCodeTtlSeconds, used: false })
    return redirectWith(reply, redirectUri, { code, scope, ...echo })
  })

  app.post('/oauth/token', async (request, reply) => {
    const params = asParams(request.body)
    const platform = platformOf(state, request, params)
    const grantType = optString(params, 'grant_type')
    if (grantType === 'authorization_code') {
      const code = optString(params, 'code')
      if (!code) return oauthError(reply, 400, 'invalid_request', 'No authorization code provided')
      const grant = state.authorizationCodes.get(code)
      if (!grant) return oauthError(reply, 400, 'invalid_grant', `Authorization code does not exist: ${code}`)
      const owner = state.clients.get(grant.clientId)
      if (owner && owner !== platform.id) return oauthError(reply, 400, 'invalid_grant', `Authorization code provided does not belong to you`)
      if (grant.used) {
        // OAuth 2.0's defence against a leaked code: replaying it revokes what it issued.
        for (const credential of state.credentials.values()) if (credential.code === code) credential.revoked = true
        return oauthError(reply, 400, 'invalid_grant', 'This authorization code has already been used. All tokens issued with this code have been revoked.')
      }
      if (grant.expiresAt < nowSeconds()) return oauthError(reply, 400, 'invalid_grant', `Authorization code expired: ${code}`)
      grant.used = true
      state.clients.set(grant.clientId, platform.id)
      platform.connected.add(grant.accountId)
      const refreshToken = newId(state.rng, 'rt')
      state.refreshTokens.set(refreshToken, { token: refreshToken, accountId: grant.accountId, platformId: platform.id, clientId: grant.clientId, scope: grant.scope, revoked: false })
      const connected = state.accounts.get(grant.accountId) as SimAccount
      state.emit(connected, 'account.application.authorized', { id: grant.clientId, object: 'application', created: nowSeconds(), name: platform.displayName })
      return tokenResponse(state, platform, grant.accountId, grant.clientId, grant.scope, refreshToken, code)
    }
    if (grantType === 'refresh_token') {
      const token = optString(params, 'refresh_token')
      if (!token) return oauthError(reply, 400, 'invalid_request', 'No refresh token provided')
      const grant = state.refreshTokens.get(token)
      if (!grant || grant.platformId !== platform.id) return oauthError(reply, 400, 'invalid_grant', `Refresh token does not exist: ${token}`)
      if (grant.revoked) return oauthError(reply, 400, 'invalid_grant', `Refresh token has been revoked: ${token}`)
      const scope = optString(params, 'scope') ?? grant.scope
      if (!SCOPES.includes(scope) || (grant.scope === 'read_only' && scope === 'read_write')) return oauthError(reply, 400, 'invalid_scope', `Invalid scope: ${scope}`)
      return tokenResponse(state, platform, grant.accountId, grant.clientId, scope, token)
    }
    return oauthError(reply, 400, 'unsupported_grant_type', `Unsupported grant type: ${grantType ?? ''}`)
  })

  app.post('/oauth/deauthorize', async (request, reply) => {
    const params = asParams(request.body)
    const platform = platformOf(state, request, params)
    const clientId = optString(params, 'client_id')
    const accountId = optString(params, 'stripe_user_id')
    if (!clientId) return oauthError(reply, 400, 'invalid_request', 'No client_id provided')
    if (!accountId) return oauthError(reply, 400, 'invalid_request', 'No stripe_user_id provided')
    if (state.clients.get(clientId) !== platform.id) return oauthError(reply, 401, 'invalid_client', `No such application: '${clientId}'`)
    if (!platform.connected.has(accountId)) {
      return oauthError(reply, 401, 'invalid_client', `This application is not connected to stripe account ${accountId}, or that account does not exist.`)
    }
    state.revokeGrant(platform.id, accountId)
    const connected = state.accounts.get(accountId) as SimAccount
    state.emit(connected, 'account.application.deauthorized', { id: clientId, object: 'application', created: nowSeconds(), name: platform.displayName })
    return { stripe_user_id: accountId }
  })
}
