// User authentication and role guards. Every service verifies the JWT again behind the gateway
// (defence in depth): algorithms pinned, issuer and audience checked, claims validated.
import fp from 'fastify-plugin'
import jwt from '@fastify/jwt'
import buildGetJwks from 'get-jwks'
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { FastifyRequest } from 'fastify'
import { requestContext, type RequestContext } from '../request-context.ts'
import { isCleanString } from './input-guard.ts'
import { ForbiddenError, UnauthorizedError, UUID_PATTERN, markReported, type SecurityEventReporter } from '@hub/contracts'

export const ROLES = ['admin', 'manager', 'viewer'] as const
export type Role = (typeof ROLES)[number]

export const ClaimsSchema = Type.Object({
  sub: Type.String({ minLength: 1, maxLength: 200 }),
  tenant_id: Type.String({ pattern: UUID_PATTERN }),
  roles: Type.Array(Type.Union(ROLES.map((r) => Type.Literal(r))), { minItems: 1 }),
  venue_ids: Type.Optional(Type.Array(Type.String({ pattern: UUID_PATTERN }), { maxItems: 1000 })),
})
export type Claims = Static<typeof ClaimsSchema>

export interface Principal {
  userId: string
  tenantId: string
  roles: Role[]
  /** When present, the venues a non-admin is limited to. */
  venueIds: string[] | null
}

export interface RouteAuth {
  /** Any of these roles passes; omitted means any authenticated user. */
  roles?: Role[]
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `false` for public routes; routes under /api/ require a user unless they say so. */
    auth?: false | RouteAuth
  }
  interface FastifyRequest {
    principal: Principal
    /** Set instead of thrown when the plugin runs with `deferFailures` (the gateway). */
    authFailure: Error | null
  }
}

export interface AuthOptions {
  /** Tokens are refused this long after their `iat`, even when `exp` is later. Default one day. */
  maxAgeSeconds?: number | undefined
  /** An `iat` further than this in the future is refused. Default 60 s. */
  clockSkewSeconds?: number | undefined
  /** HS256 tokens (development): verified with this secret and must carry `issuer`. */
  secret?: string | undefined
  /** RS256/ES256 tokens from the OpenID Connect provider: keys from this JWKS, issuer `jwksIssuer`. */
  jwksUrl?: string | undefined
  /** Issuer of the JWKS-verified tokens; `issuer` when unset. */
  jwksIssuer?: string | undefined
  /**
   * Prefix of the hub's claims in provider tokens (`https://hub.example.com/` reads
   * `https://hub.example.com/tenant_id`, `.../roles`, `.../venue_ids`), as providers such as Auth0
   * require for custom claims; the plain names are read when the prefixed ones are absent.
   */
  claimsNamespace?: string | undefined
  issuer: string
  audience: string
  securityEvents?: SecurityEventReporter
  service: string
  /**
   * Record a refusal on the request instead of throwing it, so a later hook (the gateway's rate
   * limiter) still runs and failed attempts spend the caller's budget. `rejectDeferredAuth` then
   * throws it.
   */
  deferFailures?: boolean
}

/** onRequest hook for `deferFailures` mode. */
export async function rejectDeferredAuth(request: FastifyRequest): Promise<void> {
  if (request.authFailure) throw request.authFailure
}

export const HS_ALGORITHMS = ['HS256'] as const
export const JWKS_ALGORITHMS = ['RS256', 'ES256'] as const

/** The hub's claims out of a verified payload, namespaced names first (see AuthOptions.claimsNamespace). */
export function hubClaims(payload: Record<string, unknown>, namespace?: string): Record<string, unknown> {
  const pick = (name: string): unknown => (namespace && payload[`${namespace}${name}`] !== undefined ? payload[`${namespace}${name}`] : payload[name])
  const claims: Record<string, unknown> = Object.create(null)
  claims.sub = payload.sub
  claims.tenant_id = pick('tenant_id')
  claims.roles = pick('roles')
  const venueIds = pick('venue_ids')
  if (venueIds !== undefined) claims.venue_ids = venueIds
  return claims
}

function tokenAlgorithm(header: string | undefined): string {
  try {
    const encoded = header?.replace(/^Bearer\s+/i, '').split('.')[0] ?? ''
    return String((JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as { alg?: unknown }).alg ?? '')
  } catch {
    return ''
  }
}

export function hasRole(principal: Principal, ...roles: Role[]): boolean {
  return principal.roles.some((role) => roles.includes(role))
}

/** Reads: any role, limited to `venue_ids` when a non-admin carries it. */
export function canReadVenue(principal: Principal, venueId: string): boolean {
  if (hasRole(principal, 'admin') || principal.venueIds === null) return true
  return principal.venueIds.includes(venueId.toLowerCase())
}

/** Writes: admins anywhere in their tenant; managers only in their `venue_ids`. */
export function canManageVenue(principal: Principal, venueId: string): boolean {
  if (hasRole(principal, 'admin')) return true
  return hasRole(principal, 'manager') && principal.venueIds !== null && principal.venueIds.includes(venueId.toLowerCase())
}

function authFailure(request: FastifyRequest, opts: AuthOptions, code: string, detail: string): UnauthorizedError {
  opts.securityEvents?.report({
    type: 'AUTH_FAILURE',
    severity: 'medium',
    source: opts.service,
    code,
    actor: null,
    ip: request.ip,
    method: request.method,
    path: request.url.split('?')[0] ?? request.url,
    requestId: String(request.id),
  })
  return new UnauthorizedError(code, detail)
}

export default fp(
  async (fastify, opts: AuthOptions) => {
    // @fastify/jwt reads a numeric maxAge as seconds.
    const maxAgeSeconds = opts.maxAgeSeconds ?? 86_400
    const skewSeconds = opts.clockSkewSeconds ?? 60
    if (!opts.jwksUrl && !opts.secret) throw new Error('auth: JWT_SECRET or JWT_JWKS_URL is required')
    // Both may be configured (development beside a real provider): the key is chosen by the
    // token's algorithm, so an HS256 token is only ever checked against the secret and an RS256 or
    // ES256 one only against the provider's published keys; no key serves two algorithm families.
    const jwksUrl = opts.jwksUrl ? new URL(opts.jwksUrl) : null
    const jwks = jwksUrl ? buildGetJwks({ providerDiscovery: false, jwksPath: jwksUrl.pathname, issuersWhitelist: [jwksUrl.origin], max: 100, ttl: 10 * 60_000 }) : null
    const jwksIssuer = opts.jwksIssuer ?? opts.issuer
    const algorithms = [...(opts.secret ? HS_ALGORITHMS : []), ...(jwks ? JWKS_ALGORITHMS : [])]
    await fastify.register(jwt, {
      decode: { complete: true },
      secret: async (_request: FastifyRequest, token: unknown) => {
        const { header } = token as { header: { kid?: string; alg: string } }
        if ((HS_ALGORITHMS as readonly string[]).includes(header.alg)) {
          if (opts.secret) return opts.secret
        } else if (jwks && jwksUrl && (JWKS_ALGORITHMS as readonly string[]).includes(header.alg)) {
          return jwks.getPublicKey({ domain: jwksUrl.origin, alg: header.alg, kid: header.kid ?? '' })
        }
        throw new Error(`no key for algorithm ${header.alg}`)
      },
      // The cache remembers verified tokens (bounded, and never past their exp): a token is
      // typically presented many times, and signature checks plus JSON parsing per request add up.
      verify: { algorithms, allowedIss: [...new Set([opts.issuer, ...(jwks ? [jwksIssuer] : [])])], allowedAud: opts.audience, requiredClaims: ['exp', 'iat', 'iss', 'aud'], maxAge: maxAgeSeconds, cache: 10_000, cacheTTL: 600_000 },
    })

    fastify.decorateRequest('principal', null as unknown as Principal)
    fastify.decorateRequest('caller', null as unknown as RequestContext)
    fastify.decorateRequest('authFailure', null)

    fastify.addHook('onRequest', async (request) => {
      try {
        await authenticate(request)
      } catch (error) {
        if (!opts.deferFailures) throw error
        request.authFailure = error as Error
      }
    })

    async function authenticate(request: FastifyRequest): Promise<void> {
      const config = request.routeOptions.config
      const required = config.auth !== undefined ? config.auth !== false : (request.routeOptions.url ?? request.url).startsWith('/api/')
      if (!required) return
      const header = request.headers.authorization
      if (!header || !/^Bearer\s+\S+$/i.test(header)) {
        throw authFailure(request, opts, 'AUTH_TOKEN_MISSING', 'A bearer token is required.')
      }
      let payload: unknown
      try {
        payload = await request.jwtVerify()
      } catch (error) {
        const code = (error as { code?: string }).code
        if (code === 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED') throw authFailure(request, opts, 'AUTH_TOKEN_EXPIRED', 'The token has expired.')
        throw authFailure(request, opts, 'AUTH_TOKEN_INVALID', 'The token is invalid.')
      }
      // fast-jwt caps a token's life at iat + maxAge but accepts an iat in the future, which
      // would stretch that cap as far as the issuer (or a forger holding an old key) likes.
      const issuedAt = (payload as { iat?: unknown }).iat
      if (typeof issuedAt !== 'number' || issuedAt > Date.now() / 1000 + skewSeconds) {
        throw authFailure(request, opts, 'AUTH_TOKEN_INVALID', 'The token is issued in the future.')
      }
      // Each key source vouches for its own issuer only.
      const issuer = (payload as { iss?: unknown }).iss
      const expectedIssuer = (HS_ALGORITHMS as readonly string[]).includes(tokenAlgorithm(header)) ? opts.issuer : jwksIssuer
      if (issuer !== expectedIssuer) throw authFailure(request, opts, 'AUTH_TOKEN_INVALID', 'The token is invalid.')
      const claims = hubClaims(payload as Record<string, unknown>, opts.claimsNamespace)
      if (!Value.Check(ClaimsSchema, claims)) {
        throw authFailure(request, opts, 'AUTH_TOKEN_INVALID', 'The token lacks required claims (sub, tenant_id, roles).')
      }
      // The subject is stored as who acted (created_by, audit actors): a NUL byte or a lone
      // surrogate from an issuer would fail every write of the caller as a database error.
      if (!isCleanString(claims.sub)) throw authFailure(request, opts, 'AUTH_TOKEN_INVALID', 'The token is invalid.')
      request.principal = {
        userId: claims.sub,
        tenantId: claims.tenant_id.toLowerCase(),
        roles: [...new Set(claims.roles)],
        venueIds: claims.venue_ids ? claims.venue_ids.map((id) => id.toLowerCase()) : null,
      }
      request.caller = requestContext(request, request.principal)
      const roles = config.auth ? config.auth.roles : undefined
      if (roles && !hasRole(request.principal, ...roles)) {
        opts.securityEvents?.report({
          type: 'FORBIDDEN',
          severity: 'low',
          source: opts.service,
          code: 'INSUFFICIENT_ROLE',
          tenantId: request.principal.tenantId,
          actor: request.principal.userId,
          ip: request.ip,
          method: request.method,
          path: request.url.split('?')[0] ?? request.url,
          requestId: String(request.id),
        })
        throw markReported(new ForbiddenError('INSUFFICIENT_ROLE', `This action needs one of the roles: ${roles.join(', ')}.`))
      }
    }
  },
  { name: '@hub/auth', fastify: '5.x' },
)
