// Prometheus metrics per app instance (a registry each, so tests can build many apps in one
// process), with request duration by route and status. They are served on a listener of their
// own (METRICS_PORT), never on the public one: what routes are called, how often and how they
// fail is operator information, and the gateway's public port is the internet's.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import fp from 'fastify-plugin'
import { Registry, Histogram, collectDefaultMetrics } from 'prom-client'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: {
      registry: Registry
      /** Base URL of the metrics listener once it listens (null before, or when it could not bind). */
      url(): string | null
    }
  }
}

/** Where each process serves its metrics unless METRICS_PORT says otherwise. */
export const DEFAULT_METRICS_PORTS: Record<string, number> = {
  'api-gateway': 9464,
  'venue-service': 9465,
  'integration-service': 9466,
  'compliance-service': 9467,
  'integration-worker': 9468,
}

export interface MetricsOptions {
  service: string
  /** 0 picks a free port (tests); default from DEFAULT_METRICS_PORTS. */
  port?: number | undefined
  host?: string | undefined
}

function metricsServer(registry: Registry): Server {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || (request.url ?? '').split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    )
  })
  server.headersTimeout = 5_000
  server.requestTimeout = 10_000
  server.keepAliveTimeout = 65_000
  return server
}

export default fp(
  async (fastify, opts: MetricsOptions) => {
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
    const server = metricsServer(registry)
    let url: string | null = null
    fastify.decorate('metrics', { registry, url: () => url })
    fastify.addHook('onResponse', async (request, reply) => {
      duration.observe({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) }, reply.elapsedTime / 1000)
    })
    fastify.addHook('onReady', async () => {
      const port = opts.port ?? DEFAULT_METRICS_PORTS[opts.service] ?? 0
      const host = opts.host ?? '127.0.0.1'
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject)
          server.listen(port, host, () => {
            server.off('error', reject)
            resolve()
          })
        })
        const address = server.address() as AddressInfo
        url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`
      } catch (error) {
        // Metrics are not worth refusing traffic for; a scrape that fails raises the alert.
        fastify.log.error({ err: { message: (error as Error).message }, port }, 'metrics listener could not start')
      }
    })
    fastify.addHook('onClose', async () => {
      if (!server.listening) return
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    })
  },
  { name: '@hub/metrics', fastify: '5.x' },
)
