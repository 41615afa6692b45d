// The public API document: every service's /api paths merged into one, served at /openapi.json
// and browsable at /docs. Internal routes are never published.
import fp from 'fastify-plugin'
import swaggerUi from '@fastify/swagger-ui'
import { request } from 'undici'
import type { Upstream } from './upstreams.ts'

type OpenApiDocument = { openapi: string; info: Record<string, unknown>; paths: Record<string, unknown>; components?: { schemas?: Record<string, unknown>; securitySchemes?: Record<string, unknown> }; tags?: unknown[] }

const REFRESH_MS = 60_000

export default fp(
  async (fastify, opts: { upstreams: Upstream[] }) => {
    let merged: OpenApiDocument = { openapi: '3.1.0', info: { title: 'Venue Integration Hub API', version: '0.1.0' }, paths: {} }

    async function refresh(): Promise<OpenApiDocument> {
      const documents = await Promise.all(
        opts.upstreams.map(async (upstream) => {
          try {
            const response = await request(`${upstream.url}/openapi.json`, { headersTimeout: 2_000, bodyTimeout: 2_000 })
            if (response.statusCode !== 200) {
              await response.body.dump()
              return null
            }
            return (await response.body.json()) as OpenApiDocument
          } catch {
            return null
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
      return merged
    }

    const timer = setInterval(() => void refresh(), REFRESH_MS)
    timer.unref()
    fastify.addHook('onClose', async () => clearInterval(timer))
    fastify.addHook('onReady', async () => {
      void refresh()
    })

    fastify.get('/openapi.json', { schema: { hide: true }, config: { auth: false } }, async () => refresh())

    await fastify.register(swaggerUi, {
      routePrefix: '/docs',
      // swagger-ui reads its document synchronously: serve the last merged one.
      transformSpecification: () => merged,
      uiConfig: { deepLinking: true, persistAuthorization: true },
    })
  },
  { name: 'gateway-openapi', dependencies: ['@hub/service-kit'] },
)
