// Square OAuth: authorize (auto-approved: there is no seller to click "Allow"), token
// (authorization_code with or without PKCE, refresh_token), revoke and token status.
// The token endpoints answer errors in Square's legacy OAuth format `{message, type}`, which the
// SDK turns into SquareError entries with category V1_ERROR.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { SQUARE_SCOPES } from './square-auth.ts'
import type { SquareRouteContext } from './square-context.ts'
import { invalid, unauthorized } from './square-errors.ts'
import { CLIENT_ID_PATTERN, CLIENT_SECRET_PATTERN, REFRESH_TOKEN_PATTERN, squareSecrets } from './square-ids.ts'
import type { Query } from './square-params.ts'
import { objectBody, queryString } from './square-params.ts'
import type { SquareStore } from './square-store.ts'

const CODE_TTL_MS = 5 * 60_000
const PKCE_REFRESH_TTL_MS = 90 * 86_400_000

class OAuthFailure extends Error {
  readonly status: number
  readonly type: string
  constructor(status: number, type: string, message: string) {
    super(message)
    this.status = status
    this.type = type
  }
}

const notAuthorized = (message = 'Not Authorized') => new OAuthFailure(401, 'service.not_authorized', message)
const missing = (name: string) => new OAuthFailure(400, 'bad_request.missing_parameter', `Missing required parameter: ${name}`)

function sendOAuthFailure(reply: FastifyReply, failure: OAuthFailure): FastifyReply {
  return reply.code(failure.status).send({ message: failure.message, type: failure.type })
}

/** Square's token timestamps carry no fraction: `2024-05-01T12:00:00Z`. */
const tokenTime = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')

function sameSecret(expected: string, given: string): boolean {
  const a = Buffer.from(expected)
  const b = Buffer.from(given)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** The first secret a client presents is its secret from then on (the simulator has no app dashboard). */
function checkClientSecret(store: SquareStore, clientId: string, secret: string): void {
  if (!CLIENT_SECRET_PATTERN.test(secret)) throw notAuthorized()
  const bound = store.clientSecrets.get(clientId)
  if (bound === undefined) store.clientSecrets.set(clientId, secret)
  else if (!sameSecret(bound, secret)) throw notAuthorized()
}

function parseScopes(raw: string | undefined): string[] {
  const scopes = (raw ?? '').split(/[\s+]+/).filter(Boolean)
  if (scopes.length === 0) throw invalid('MISSING_REQUIRED_PARAMETER', 'scope is required', 'scope')
  for (const scope of scopes) {
    if (!(SQUARE_SCOPES as readonly string[]).includes(scope)) throw invalid('INVALID_VALUE', `Unknown scope ${scope}`, 'scope')
  }
  return scopes
}

function issueTokens(store: SquareStore, grant: { merchantId: string; clientId: string; scopes: string[]; pkce: boolean }, refreshToken: string | null) {
  const now = Date.now()
  const accessToken = squareSecrets.accessToken()
  const refresh = refreshToken ?? squareSecrets.refreshToken()
  const expiresAt = now + store.accessTokenTtlSeconds * 1000
  if (!refreshToken) {
    store.refreshGrants.set(refresh, {
      merchantId: grant.merchantId,
      clientId: grant.clientId,
      scopes: grant.scopes,
      pkce: grant.pkce,
      expiresAt: grant.pkce ? now + PKCE_REFRESH_TTL_MS : null,
      revoked: false,
    })
  }
  store.accessGrants.set(accessToken, { merchantId: grant.merchantId, clientId: grant.clientId, scopes: grant.scopes, expiresAt, refreshToken: refresh, revoked: false })
  const refreshGrant = store.refreshGrants.get(refresh)
  return {
    access_token: accessToken,
    token_type: 'bearer',
    expires_at: tokenTime(expiresAt),
    merchant_id: grant.merchantId,
    refresh_token: refresh,
    short_lived: false,
    ...(refreshGrant?.expiresAt ? { refresh_token_expires_at: tokenTime(refreshGrant.expiresAt) } : {}),
  }
}

function field(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name]
  return typeof value === 'string' && value !== '' ? value : undefined
}

export function registerOAuthRoutes(app: FastifyInstance, { store }: SquareRouteContext): void {
  app.get('/oauth2/authorize', async (request, reply) => {
    const query = request.query as Query
    const clientId = queryString(query, 'client_id')
    if (!clientId || !CLIENT_ID_PATTERN.test(clientId)) throw invalid('INVALID_VALUE', 'Invalid client_id', 'client_id')
    const redirectUri = queryString(query, 'redirect_uri')
    if (!redirectUri || !URL.canParse(redirectUri)) {
      throw invalid('MISSING_REQUIRED_PARAMETER', 'The simulator needs redirect_uri (there is no dashboard holding the app redirect URL)', 'redirect_uri')
    }
    const scopes = parseScopes(queryString(query, 'scope'))
    const challenge = queryString(query, 'code_challenge') ?? null
    if (challenge !== null && queryString(query, 'code_challenge_method') !== 'S256') {
      throw invalid('INVALID_VALUE', 'code_challenge_method must be S256', 'code_challenge_method')
    }
    const target = new URL(redirectUri)
    const state = queryString(query, 'state')
    if (state !== undefined) target.searchParams.set('state', state)
    if (queryString(query, 'sim_decision') === 'deny') {
      target.searchParams.set('error', 'access_denied')
      target.searchParams.set('error_description', 'user_denied')
      return reply.redirect(target.toString(), 302)
    }
    const merchantId = queryString(query, 'sim_merchant_id')
    if (merchantId !== undefined && !store.accounts.has(merchantId)) throw invalid('INVALID_VALUE', `Unknown sim_merchant_id ${merchantId}`, 'sim_merchant_id')
    const account = merchantId ? store.account(merchantId) : store.newOAuthMerchant(clientId)
    const code = squareSecrets.authorizationCode()
    store.codes.set(code, { clientId, merchantId: account.id, scopes, redirectUri, codeChallenge: challenge, expiresAt: Date.now() + CODE_TTL_MS, used: false })
    target.searchParams.set('code', code)
    target.searchParams.set('response_type', 'code')
    return reply.redirect(target.toString(), 302)
  })

  app.post('/oauth2/token', async (request, reply) => {
    try {
      const body = objectBody(request.body)
      const clientId = field(body, 'client_id')
      const grantType = field(body, 'grant_type')
      if (!clientId) throw missing('client_id')
      if (!grantType) throw missing('grant_type')
      if (!CLIENT_ID_PATTERN.test(clientId)) throw notAuthorized()
      const secret = field(body, 'client_secret')
      if (grantType === 'authorization_code') {
        const code = field(body, 'code')
        if (!code) throw missing('code')
        const grant = store.codes.get(code)
        if (!grant || grant.clientId !== clientId) throw notAuthorized('Invalid authorization code')
        if (grant.used) throw notAuthorized('Authorization code is already redeemed')
        if (Date.now() > grant.expiresAt) throw notAuthorized('Authorization code is expired')
        const redirectUri = field(body, 'redirect_uri')
        if (redirectUri !== undefined && grant.redirectUri !== null && redirectUri !== grant.redirectUri) throw notAuthorized('redirect_uri does not match')
        if (grant.codeChallenge !== null) {
          const verifier = field(body, 'code_verifier')
          if (!verifier) throw missing('code_verifier')
          const computed = createHash('sha256').update(verifier).digest('base64url')
          if (!sameSecret(grant.codeChallenge, computed)) throw notAuthorized('Invalid code_verifier')
          if (secret !== undefined) checkClientSecret(store, clientId, secret)
        } else {
          if (!secret) throw missing('client_secret')
          checkClientSecret(store, clientId, secret)
        }
        grant.used = true
        return issueTokens(store, { merchantId: grant.merchantId, clientId, scopes: grant.scopes, pkce: grant.codeChallenge !== null }, null)
      }
      if (grantType === 'refresh_token') {
        const refreshToken = field(body, 'refresh_token')
        if (!refreshToken) throw missing('refresh_token')
        const grant = REFRESH_TOKEN_PATTERN.test(refreshToken) ? store.refreshGrants.get(refreshToken) : undefined
        if (!grant || grant.clientId !== clientId || grant.revoked) throw notAuthorized('Invalid refresh token')
        if (grant.expiresAt !== null && Date.now() > grant.expiresAt) throw notAuthorized('Refresh token is expired')
        if (!grant.pkce) {
          if (!secret) throw missing('client_secret')
          checkClientSecret(store, clientId, secret)
        }
        const requested = Array.isArray(body.scopes) ? body.scopes.map(String).filter((scope) => grant.scopes.includes(scope)) : grant.scopes
        const scoped = { merchantId: grant.merchantId, clientId, scopes: requested, pkce: grant.pkce }
        if (!grant.pkce) return issueTokens(store, scoped, refreshToken)
        // PKCE refresh tokens are single use: each refresh returns a new one.
        grant.revoked = true
        return issueTokens(store, scoped, null)
      }
      throw new OAuthFailure(400, 'bad_request', `Unsupported grant_type: ${grantType}`)
    } catch (error) {
      if (error instanceof OAuthFailure) return sendOAuthFailure(reply, error)
      throw error
    }
  })

  app.post('/oauth2/revoke', async (request, reply) => {
    try {
      const header = request.headers.authorization ?? ''
      const match = /^Client\s+(\S+)$/.exec(header)
      if (!match?.[1]) throw notAuthorized()
      const body = objectBody(request.body)
      const clientId = field(body, 'client_id')
      if (!clientId) throw missing('client_id')
      if (!CLIENT_ID_PATTERN.test(clientId)) throw notAuthorized()
      checkClientSecret(store, clientId, match[1])
      const accessToken = field(body, 'access_token')
      const merchantId = field(body, 'merchant_id') ?? (accessToken ? store.accessGrants.get(accessToken)?.merchantId : undefined)
      if (!accessToken && !field(body, 'merchant_id')) throw missing('access_token')
      if (!merchantId) throw new OAuthFailure(404, 'not_found', 'Access token not found')
      const onlyAccess = body.revoke_only_access_token === true
      // Revocation is per (merchant, application): every token of that pair goes.
      for (const grant of store.accessGrants.values()) if (grant.merchantId === merchantId && grant.clientId === clientId) grant.revoked = true
      if (!onlyAccess) for (const grant of store.refreshGrants.values()) if (grant.merchantId === merchantId && grant.clientId === clientId) grant.revoked = true
      return { success: true }
    } catch (error) {
      if (error instanceof OAuthFailure) return sendOAuthFailure(reply, error)
      throw error
    }
  })

  app.post('/oauth2/token/status', async (request) => {
    const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')
    const token = match?.[1]
    const resolution = token ? store.resolveToken(token) : null
    if (!token || !resolution?.ok) throw unauthorized()
    const grant = store.accessGrants.get(token)
    return {
      scopes: grant?.scopes ?? [...SQUARE_SCOPES],
      merchant_id: resolution.account.id,
      ...(grant ? { client_id: grant.clientId, expires_at: tokenTime(grant.expiresAt) } : {}),
    }
  })
}
