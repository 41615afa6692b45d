// The public API document: every service's /api paths merged into one, served at /openapi.json
// and browsable at /docs. Internal routes are never published. The merged document is cached:
// an anonymous request never makes the gateway call three services; it is refreshed in the
// background once older than the TTL, and an upstream that is down keeps its last document.
import fp from 'fastify-plugin'
import swaggerUi from '@fastify/swagger-ui'
import { request } from 'undici'
import type { Upstream } from './upstreams.ts'

export type OpenApiDocument = {
  openapi: string
  info: Record<string, unknown>
  servers?: Array<{ url: string; description?: string }>
  paths: Record<string, unknown>
  components?: { schemas?: Record<string, unknown>; securitySchemes?: Record<string, unknown> }
  tags?: Array<{ name: string; description?: string }>
  security?: Array<Record<string, string[]>>
}

const TAG_DESCRIPTIONS: Record<string, string> = {
  venues: 'Venues of a tenant and their members (venue-service).',
  members: 'Who may work on a venue (venue-service).',
  connections: 'Provider connections of a venue (integration-service).',
  oauth: 'Connecting a provider through OAuth 2 (integration-service).',
  webhooks: 'Where providers deliver signed events; public, the provider signs instead of a JWT.',
  sync: 'Sync runs, records, logs and field mappings (integration-service).',
  settings: 'Versioned integration settings (integration-service).',
  admin: 'Operator controls: dead letters, circuit breakers, queues (integration-service).',
  compliance: 'Sync-log history and reports for auditors (compliance-service).',
  'audit log': 'The tamper-evident audit log (compliance-service).',
  'security events': 'Security events of the tenant (compliance-service).',
}

/**
 * The public document: each service's public paths (internal routes are never published), their
 * schemas, every tag used with a description, and the gateway as the one server. The bull-board
 * queue dashboard (an operator UI with its own JSON API) is left out on purpose: it is not part
 * of the API contract and changes with the bull-board version.
 */
export function mergeOpenApiDocuments(documents: Array<OpenApiDocument | null>, upstreams: Upstream[]): OpenApiDocument {
  const paths: Record<string, unknown> = {}
  const schemas: Record<string, unknown> = {}
  const tags = new Set<string>()
  for (const document of documents) {
    if (!document) continue
    for (const [path, item] of Object.entries(document.paths ?? {})) {
      if (!upstreams.some((u) => u.prefixes.some((prefix) => path.startsWith(prefix)))) continue
      paths[path] = item
      for (const operation of Object.values(item as Record<string, { tags?: string[] }>)) for (const tag of operation.tags ?? []) tags.add(tag)
    }
    Object.assign(schemas, document.components?.schemas ?? {})
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Venue Integration Hub API',
      version: '0.1.0',
      description: 'Public API of the hub, through the api-gateway. Authenticate with a bearer JWT; errors are RFC 9457 problem documents with a stable `code`. The queue dashboard is an operator UI and is not described here.',
    },
    servers: [{ url: '/', description: 'The api-gateway this document was served by' }],
    security: [{ bearerAuth: [] }],
    tags: [...tags].sort().map((name) => ({ name, description: TAG_DESCRIPTIONS[name] ?? name })),
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
    components: { schemas, securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
  }
}

export default fp(
  async (fastify, opts: { upstreams: Upstream[]; ttlMs: number }) => {
    let merged: OpenApiDocument = { openapi: '3.1.0', info: { title: 'Venue Integration Hub API', version: '0.1.0' }, paths: {} }
    /** Each upstream's last good document: served stale while that upstream is down. */
    const lastGood = new Map<string, OpenApiDocument>()
    let refreshedAt = 0
    let inFlight: Promise<OpenApiDocument> | null = null

    // One refresh at a time, however many requests find the cache stale.
    function refresh(): Promise<OpenApiDocument> {
      inFlight ??= fetchAndMerge().finally(() => {
        inFlight = null
      })
      return inFlight
    }

    async function fetchAndMerge(): Promise<OpenApiDocument> {
      const documents = await Promise.all(
        opts.upstreams.map(async (upstream) => {
          try {
            const response = await request(`${upstream.url}/openapi.json`, { headersTimeout: 2_000, bodyTimeout: 2_000 })
            if (response.statusCode !== 200) {
              await response.body.dump()
              return lastGood.get(upstream.name) ?? null
            }
            const document = (await response.body.json()) as OpenApiDocument
            lastGood.set(upstream.name, document)
            return document
          } catch {
            return lastGood.get(upstream.name) ?? null
          }
        }),
      )
      merged = mergeOpenApiDocuments(documents, opts.upstreams)
      refreshedAt = Date.now()
      return merged
    }

    fastify.addHook('onReady', async () => {
      void refresh()
    })

    fastify.get('/openapi.json', { schema: { hide: true }, config: { auth: false } }, async () => {
      // Nothing merged yet: wait for the first refresh rather than answer an empty document.
      if (refreshedAt === 0) return refresh()
      if (Date.now() - refreshedAt > opts.ttlMs) void refresh()
      return merged
    })

    await fastify.register(swaggerUi, {
      routePrefix: '/docs',
      // swagger-ui reads its document synchronously: serve the last merged one.
      transformSpecification: () => merged,
      uiConfig: { deepLinking: true, persistAuthorization: true },
    })
  },
  { name: 'gateway-openapi', dependencies: ['@hub/service-kit'] },
)
