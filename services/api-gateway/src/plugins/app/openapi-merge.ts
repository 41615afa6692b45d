// The public API document: every service's /api paths merged into one, served at /openapi.json
// and browsable at /docs. Internal routes are never published. The merged document is cached:
// an anonymous request never makes the gateway call three services; it is refreshed in the
// background once older than the TTL, and an upstream that is down keeps its last document.
import fp from 'fastify-plugin'
import swaggerUi from '@fastify/swagger-ui'
import { request } from 'undici'
import type { Upstream } from './upstreams.ts'

type OpenApiDocument = { openapi: string; info: Record<string, unknown>; paths: Record<string, unknown>; components?: { schemas?: Record<string, unknown>; securitySchemes?: Record<string, unknown> }; tags?: unknown[] }

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
      const paths: Record<string, unknown> = {}
      const schemas: Record<string, unknown> = {}
      for (const document of documents) {
        if (!document) continue
        for (const [path, item] of Object.entries(document.paths ?? {})) {
          if (opts.upstreams.some((u) => u.prefixes.some((prefix) => path.startsWith(prefix)))) paths[path] = item
        }
        Object.assign(schemas, document.components?.schemas ?? {})
      }
      merged = {
        openapi: '3.1.0',
        info: { title: 'Venue Integration Hub API', version: '0.1.0', description: 'Public API of the hub, through the api-gateway. Authenticate with a bearer JWT.' },
        paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
        components: { schemas, securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      }
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
