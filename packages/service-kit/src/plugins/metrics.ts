// Prometheus metrics per app instance (a registry each, so tests can build many apps in one
// process), with request duration by route and status.
import fp from 'fastify-plugin'
import { Registry, Histogram, collectDefaultMetrics } from 'prom-client'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: { registry: Registry }
  }
}

export default fp(
  async (fastify, opts: { service: string }) => {
    const registry = new Registry()
    registry.setDefaultLabels({ service: opts.service })
    collectDefaultMetrics({ register: registry })
    const duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    })
    fastify.decorate('metrics', { registry })
    fastify.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched'
      if (route === '/metrics') return
      duration.observe({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000)
    })
    fastify.get('/metrics', { schema: { hide: true }, config: { auth: false } }, async (_request, reply) => {
      reply.type(registry.contentType)
      return registry.metrics()
    })
  },
  { name: '@hub/metrics', fastify: '5.x' },
)
