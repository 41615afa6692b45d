// The integration console (apps/console) served at `/`: its built files with caching headers and a
// strict Content-Security-Policy, the page for each of its client-side routes, the sign-in settings
// it reads at start, and — outside production only — a one-click development sign-in.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import fp from 'fastify-plugin'
import fastifyStatic from '@fastify/static'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { mintDevToken, sendProblem } from '@hub/service-kit'
import { ProblemSchema, UUID_PATTERN } from '@hub/contracts'
import type { GatewayConfig } from '../../config.ts'

/** Where `pnpm --filter @hub/console build` writes the console. */
export const CONSOLE_DIST = join(import.meta.dirname, '..', '..', '..', '..', '..', 'apps', 'console', 'dist')

/** Client-side routes of the console: each answers with index.html so a reload or a deep link works. */
export const CONSOLE_ROUTES = ['/', '/venues', '/venues/*', '/audit', '/audit/*', '/security', '/operations', '/sign-in', '/oauth-complete', '/auth/callback']

export const PERSONAS = ['admin', 'manager', 'viewer', 'operator'] as const
export type Persona = (typeof PERSONAS)[number]

const DEV_TOKEN_SECONDS = 8 * 3600

export function consoleCsp(issuer?: string): string {
  // connect-src names the OpenID provider: the browser fetches its discovery document and token endpoint.
  const connect = ["'self'", ...(issuer ? [new URL(issuer).origin] : [])].join(' ')
  return ["default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", `connect-src ${connect}`, "font-src 'self'", "object-src 'none'", "base-uri 'self'", "form-action 'self'", "frame-ancestors 'none'"].join('; ')
}

function consoleHeaders(reply: FastifyReply, csp: string, immutable: boolean): void {
  reply.header('content-security-policy', csp)
  reply.header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
  reply.header('x-content-type-options', 'nosniff')
  reply.header('referrer-policy', 'no-referrer')
}

const SignInBody = Type.Object({ persona: Type.Union(PERSONAS.map((p) => Type.Literal(p))), venueId: Type.Optional(Type.String({ pattern: UUID_PATTERN })) }, { additionalProperties: false })
const SignInResponse = Type.Object({ token: Type.String(), expiresAt: Type.String(), persona: Type.String(), tenantId: Type.String(), venueIds: Type.Array(Type.String()) })
const ConsoleSettings = Type.Object({
  devSignIn: Type.Boolean(),
  oidc: Type.Union([Type.Null(), Type.Object({ issuer: Type.String(), clientId: Type.String(), audience: Type.String(), scopes: Type.String(), claimsNamespace: Type.String() })]),
})

/** The first venue of the tenant, oldest first (or the one asked for), read through venue-service as its admin would. */
async function venueForManager(config: GatewayConfig, secret: string, tenantId: string, wanted?: string): Promise<string | null> {
  const admin = mintDevToken({ secret, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, tenantId, roles: ['admin'], sub: 'console-dev-sign-in', expiresIn: 60 })
  const response = await fetch(`${config.VENUE_SERVICE_URL}/api/v1/venues?limit=100&sort=created_at`, { headers: { authorization: `Bearer ${admin}` }, signal: AbortSignal.timeout(5_000) })
  if (!response.ok) return null
  const body = (await response.json()) as { data?: { id: string }[] }
  const ids = (body.data ?? []).map((venue) => venue.id)
  if (wanted) return ids.includes(wanted.toLowerCase()) ? wanted.toLowerCase() : null
  return ids[0] ?? null
}

function registerDevSignIn(fastify: FastifyInstance, config: GatewayConfig, secret: string): void {
  const tenantId = config.DEMO_TENANT_ID
  const operatorTenant =
    config.OPERATOR_TENANT_IDS.split(',')
      .map((id) => id.trim())
      .find(Boolean) ?? tenantId
  fastify.post(
    '/console/dev-sign-in',
    {
      schema: { hide: true, body: SignInBody, response: { 200: SignInResponse, 400: ProblemSchema, 409: ProblemSchema } },
      config: { auth: false },
    },
    async (request, reply) => {
      const { persona, venueId } = request.body as { persona: Persona; venueId?: string }
      let venueIds: string[] = []
      if (persona === 'manager') {
        const venue = await venueForManager(config, secret, tenantId, venueId)
        if (!venue) return sendProblem(reply, { title: 'Conflict', status: 409, code: 'NO_VENUE_TO_MANAGE', detail: 'The demo tenant has no such venue yet: sign in as the admin and create one first.' })
        venueIds = [venue]
      }
      const tenant = persona === 'operator' ? operatorTenant : tenantId
      const roles = persona === 'operator' ? (['admin'] as const) : ([persona] as const)
      const token = mintDevToken({ secret, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, tenantId: tenant, roles: [...roles], sub: `demo-${persona}`, ...(venueIds.length ? { venueIds } : {}), expiresIn: DEV_TOKEN_SECONDS })
      request.log.info({ persona, tenantId: tenant }, 'console development sign-in')
      return { token, expiresAt: new Date(Date.now() + DEV_TOKEN_SECONDS * 1000).toISOString(), persona, tenantId: tenant, venueIds }
    },
  )
}

export default fp(
  async (fastify, opts: { config: GatewayConfig; root?: string }) => {
    const { config } = opts
    const root = opts.root ?? CONSOLE_DIST
    // claimsNamespace: where the console finds tenant, roles and venues in the provider's access token.
    const oidc =
      config.OIDC_ISSUER && config.OIDC_CLIENT_ID
        ? { issuer: config.OIDC_ISSUER, clientId: config.OIDC_CLIENT_ID, audience: config.OIDC_AUDIENCE ?? config.JWT_AUDIENCE, scopes: config.OIDC_SCOPES, claimsNamespace: config.JWT_CLAIMS_NAMESPACE ?? '' }
        : null
    // Development sign-in needs the shared secret, never exists in production whatever else is set,
    // and is not offered beside a configured OpenID provider (the shared secret may still verify
    // the development tokens of scripts and tests there).
    const devSignIn = config.NODE_ENV !== 'production' && Boolean(config.JWT_SECRET) && !oidc
    const csp = consoleCsp(oidc?.issuer)

    fastify.get('/console/settings.json', { schema: { hide: true, response: { 200: ConsoleSettings } }, config: { auth: false } }, async (_request, reply) => {
      reply.header('cache-control', 'no-cache')
      return { devSignIn, oidc }
    })
    if (devSignIn && config.JWT_SECRET) registerDevSignIn(fastify, config, config.JWT_SECRET)

    const indexFile = join(root, 'index.html')
    if (!existsSync(indexFile)) {
      fastify.log.warn({ root }, 'console not built, so / serves nothing: run `npx pnpm@9.15.4 --filter @hub/console build` (npm start does)')
      return
    }
    const index = readFileSync(indexFile)
    await fastify.register(async (scope) => {
      scope.addHook('onSend', async (request, reply, payload) => {
        // Vite names every asset by its content hash, so a file under /assets never changes: a
        // file served from there is cached for good. An error there is not (an asset asked of a
        // replica still on the previous build, mid-rollout, would stay a 404 in every cache).
        consoleHeaders(reply, csp, request.url.startsWith('/assets/') && reply.statusCode === 200)
        if (request.url.startsWith('/assets/') && reply.statusCode >= 400) reply.header('cache-control', 'no-store')
        return payload
      })
      // Only what Vite emits: never a dotfile.
      await scope.register(fastifyStatic, {
        root: join(root, 'assets'),
        prefix: '/assets/',
        wildcard: true,
        index: false,
        serve: true,
        decorateReply: false,
        dotfiles: 'deny',
        allowedPath: (path) => !path.includes('..'),
      })
      for (const file of ['favicon.svg', 'robots.txt']) {
        if (existsSync(join(root, file)))
          scope.get(`/${file}`, { schema: { hide: true }, config: { auth: false } }, async (_request, reply) => reply.type(file.endsWith('.svg') ? 'image/svg+xml' : 'text/plain').send(readFileSync(join(root, file))))
      }
      for (const route of CONSOLE_ROUTES) {
        scope.get(route, { schema: { hide: true }, config: { auth: false } }, async (_request, reply) => reply.type('text/html; charset=utf-8').send(index))
      }
    })
    fastify.log.info({ root }, 'serving the console at /')
  },
  { name: 'gateway-console', dependencies: ['@hub/service-kit'] },
)
