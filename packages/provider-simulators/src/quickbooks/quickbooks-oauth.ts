// Intuit OAuth 2.0 (served on the simulator's own host; Intuit splits it over appcenter.intuit.com,
// oauth.platform.intuit.com and developer.api.intuit.com). Access tokens live an hour by default,
// refresh tokens 100 days and rotate on every use: the previous refresh token is refused with
// invalid_grant from then on, which is exactly what makes two concurrent refreshes lose a grant.
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { FaultRegistry } from '../common/faults.ts'
import { oauthFaultRenderer } from './quickbooks-faults.ts'
import type { QboRealmRegistry } from './quickbooks-store.ts'

export const ACCOUNTING_SCOPE = 'com.intuit.quickbooks.accounting'
const KNOWN_SCOPES = new Set([ACCOUNTING_SCOPE, 'com.intuit.quickbooks.payment', 'openid', 'profile', 'email', 'phone', 'address'])

export interface OAuthConfig {
  accessTokenTtlSeconds: number
  refreshTokenTtlSeconds: number
  authCodeTtlSeconds: number
}

export const DEFAULT_OAUTH_CONFIG: OAuthConfig = {
  accessTokenTtlSeconds: 3600,
  refreshTokenTtlSeconds: 100 * 86_400,
  authCodeTtlSeconds: 300,
}

interface Grant {
  realmId: string
  clientId: string | null
  revoked: boolean
  accessTokens: Set<string>
  refreshTokens: Set<string>
}

interface TokenRecord {
  grant: Grant
  expiresMs: number
  used: boolean
}

interface CodeRecord {
  clientId: string
  redirectUri: string
  realmId: string
  expiresMs: number
  used: boolean
}

export interface IssuedTokens {
  token_type: 'bearer'
  access_token: string
  refresh_token: string
  expires_in: number
  x_refresh_token_expires_in: number
}

export type AccessCheck = { ok: true; realmId: string } | { ok: false; detail: string }

const JWE_HEADER = Buffer.from('{"enc":"A128CBC-HS256","alg":"dir"}').toString('base64url')
const ACCESS_TOKEN_SHAPE = /^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

function b64url(bytes: number): string {
  return randomBytes(bytes).toString('base64url')
}

/** Intuit refresh tokens and codes: "AB11" + expiry seconds + random alphanumerics. */
function intuitOpaque(expiresMs: number): string {
  const alnum = randomBytes(27)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 36)
    .padEnd(36, 'x')
  return `AB11${Math.floor(expiresMs / 1000)}${alnum}`
}

export class QboTokenStore {
  config: OAuthConfig = { ...DEFAULT_OAUTH_CONFIG }
  /** Registered app credentials; unregistered client ids are accepted with any secret. */
  readonly clients = new Map<string, string>()
  readonly #access = new Map<string, TokenRecord>()
  readonly #refresh = new Map<string, TokenRecord>()
  readonly #codes = new Map<string, CodeRecord>()

  issue(realmId: string, clientId: string | null, grant?: Grant): IssuedTokens {
    const owner = grant ?? { realmId, clientId, revoked: false, accessTokens: new Set<string>(), refreshTokens: new Set<string>() }
    const now = Date.now()
    const accessToken = `${JWE_HEADER}..${b64url(16)}.${b64url(480)}.${b64url(16)}`
    const refreshExpires = now + this.config.refreshTokenTtlSeconds * 1000
    const refreshToken = intuitOpaque(refreshExpires)
    this.#access.set(accessToken, { grant: owner, expiresMs: now + this.config.accessTokenTtlSeconds * 1000, used: false })
    this.#refresh.set(refreshToken, { grant: owner, expiresMs: refreshExpires, used: false })
    owner.accessTokens.add(accessToken)
    owner.refreshTokens.add(refreshToken)
    return {
      token_type: 'bearer',
      access_token: accessToken,
      refresh_token: refreshToken,
      expires_in: this.config.accessTokenTtlSeconds,
      x_refresh_token_expires_in: this.config.refreshTokenTtlSeconds,
    }
  }

  checkAccess(token: string): AccessCheck {
    const record = this.#access.get(token)
    if (!record) return { ok: false, detail: ACCESS_TOKEN_SHAPE.test(token) ? 'Token invalid: the token is not recognised' : 'Token invalid: malformed bearer token' }
    if (record.grant.revoked) return { ok: false, detail: 'Token revoked: the authorization was revoked by the user or the app' }
    if (record.expiresMs <= Date.now()) return { ok: false, detail: `Token expired: ${token.slice(0, 24)}...` }
    return { ok: true, realmId: record.grant.realmId }
  }

  /** Rotates: the presented refresh token is spent whether or not the caller keeps the answer. */
  refresh(refreshToken: string, clientId: string): IssuedTokens | undefined {
    const record = this.#refresh.get(refreshToken)
    if (!record || record.used || record.grant.revoked || record.expiresMs <= Date.now()) return undefined
    if (record.grant.clientId !== null && record.grant.clientId !== clientId) return undefined
    record.used = true
    return this.issue(record.grant.realmId, record.grant.clientId, record.grant)
  }

  /** Revoking either token of a grant revokes the whole grant, as Intuit does. */
  revoke(token: string): boolean {
    const record = this.#access.get(token) ?? this.#refresh.get(token)
    if (!record) return false
    record.grant.revoked = true
    return true
  }

  lookup(credential: string): string | undefined {
    return (this.#access.get(credential) ?? this.#refresh.get(credential))?.grant.realmId
  }

  createCode(clientId: string, redirectUri: string, realmId: string): string {
    const expiresMs = Date.now() + this.config.authCodeTtlSeconds * 1000
    const code = intuitOpaque(expiresMs)
    this.#codes.set(code, { clientId, redirectUri, realmId, expiresMs, used: false })
    return code
  }

  redeemCode(code: string, clientId: string, redirectUri: string): string | undefined {
    const record = this.#codes.get(code)
    if (!record || record.used || record.expiresMs <= Date.now()) return undefined
    if (record.clientId !== clientId || record.redirectUri !== redirectUri) return undefined
    record.used = true
    return record.realmId
  }

  checkClient(clientId: string, secret: string): boolean {
    const expected = this.clients.get(clientId)
    if (expected === undefined) return secret.length > 0
    const a = Buffer.from(expected)
    const b = Buffer.from(secret)
    return a.length === b.length && timingSafeEqual(a, b)
  }
}

function basicClient(request: FastifyRequest): { clientId: string; secret: string } | undefined {
  const header = request.headers.authorization
  if (typeof header !== 'string' || !/^basic /i.test(header)) return undefined
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon <= 0) return undefined
  return { clientId: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) }
}

function oauthError(reply: FastifyReply, status: number, error: string, description?: string): FastifyReply {
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .send({ error, ...(description ? { error_description: description } : {}) })
}

export function registerOAuthRoutes(app: FastifyInstance, deps: { tokens: QboTokenStore; realms: QboRealmRegistry; faults: FaultRegistry }): void {
  const { tokens, realms, faults } = deps

  app.register(async (scope) => {
    scope.addHook('onRequest', async (request, reply) => {
      if (await faults.apply(undefined, request, reply, oauthFaultRenderer)) return reply
    })

    // Intuit shows a sign-in and consent page; the simulator consents at once. `realmId` (a
    // simulator extension) picks an existing company, otherwise a new one is created.
    scope.get('/connect/oauth2', async (request, reply) => {
      const query = request.query as Record<string, string | undefined>
      const redirectUri = query.redirect_uri
      if (!query.client_id || !redirectUri || !/^https?:\/\//.test(redirectUri)) {
        return reply.code(400).type('text/html').send('<html><body><h1>Error</h1><p>invalid_request: client_id and a valid redirect_uri are required</p></body></html>')
      }
      const target = new URL(redirectUri)
      const fail = (error: string): FastifyReply => {
        target.searchParams.set('error', error)
        if (query.state) target.searchParams.set('state', query.state)
        return reply.redirect(target.toString(), 302)
      }
      if (query.response_type !== 'code') return fail('unsupported_response_type')
      const scopes = (query.scope ?? '').split(/[ +]/).filter(Boolean)
      if (scopes.length === 0 || scopes.some((s) => !KNOWN_SCOPES.has(s))) return fail('invalid_scope')
      if (!query.state) return fail('invalid_request')
      const realm = query.realmId ? realms.get(query.realmId) : realms.create()
      if (!realm) return fail('access_denied')
      target.searchParams.set('code', tokens.createCode(query.client_id, redirectUri, realm.realmId))
      target.searchParams.set('state', query.state)
      target.searchParams.set('realmId', realm.realmId)
      return reply.redirect(target.toString(), 302)
    })

    scope.post('/oauth2/v1/tokens/bearer', async (request, reply) => {
      const client = basicClient(request)
      if (!client || !tokens.checkClient(client.clientId, client.secret)) return oauthError(reply, 401, 'invalid_client')
      const body = (request.body ?? {}) as Record<string, string | undefined>
      if (body.grant_type === 'authorization_code') {
        if (!body.code || !body.redirect_uri) return oauthError(reply, 400, 'invalid_request')
        const realmId = tokens.redeemCode(body.code, client.clientId, body.redirect_uri)
        if (!realmId) return oauthError(reply, 400, 'invalid_grant')
        return reply.header('cache-control', 'no-store').send(tokens.issue(realmId, client.clientId))
      }
      if (body.grant_type === 'refresh_token') {
        if (!body.refresh_token) return oauthError(reply, 400, 'invalid_request')
        const issued = tokens.refresh(body.refresh_token, client.clientId)
        if (!issued) return oauthError(reply, 400, 'invalid_grant')
        return reply.header('cache-control', 'no-store').send(issued)
      }
      return oauthError(reply, 400, 'unsupported_grant_type')
    })

    const revoke = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      const client = basicClient(request)
      if (!client || !tokens.checkClient(client.clientId, client.secret)) return oauthError(reply, 401, 'invalid_client')
      const body = (request.body ?? {}) as Record<string, unknown>
      if (typeof body.token !== 'string' || body.token.length === 0) return oauthError(reply, 400, 'invalid_request')
      tokens.revoke(body.token)
      // RFC 7009: unknown tokens are not an error.
      return reply.code(200).send()
    }
    scope.post('/oauth2/v1/tokens/revoke', revoke)
    scope.post('/v2/oauth2/tokens/revoke', revoke)
  })
}
