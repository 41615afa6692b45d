// api-gateway as one Fastify plugin: edge guard, JWT, Redis rate limits, then the proxies.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import cors from '@fastify/cors'
import { jwtOptions, serviceKit } from '@hub/service-kit'
import type { SecurityEventReporter } from '@hub/contracts'
import type { GatewayConfig } from './config.ts'
import edgeGuard from './plugins/app/edge-guard.ts'
import gatewayRateLimit from './plugins/app/rate-limit.ts'
import inFlightLimit from './plugins/app/in-flight-limit.ts'
import securityHeaders from './plugins/app/security-headers.ts'
import proxy from './plugins/app/proxy.ts'
import openapiMerge from './plugins/app/openapi-merge.ts'
import consoleApp from './plugins/app/console.ts'
import { upstreamHealth } from './plugins/app/upstream-health.ts'
import { upstreamsFrom } from './plugins/app/upstreams.ts'

export const SERVICE_NAME = 'api-gateway'

async function apiGateway(fastify: FastifyInstance, opts: { config: GatewayConfig; securityEvents?: SecurityEventReporter; consoleRoot?: string }): Promise<void> {
  const { config } = opts
  const upstreams = upstreamsFrom(config)
  await fastify.register(serviceKit, {
    service: SERVICE_NAME,
    maxEventLoopDelayMs: config.MAX_EVENT_LOOP_DELAY_MS,
    metrics: { port: config.METRICS_PORT, host: config.METRICS_HOST ?? config.HOST },
    description: 'The public door of the hub.',
    redisUrl: config.REDIS_URL,
    redisPrefix: config.REDIS_KEY_PREFIX,
    jwt: { ...jwtOptions(config), deferFailures: true },
    healthDetails: upstreamHealth(upstreams),
    openapiRoute: false,
    parseJsonBodies: false,
    // No database: refusals wait in a Redis stream until compliance-service has them.
    securityEventBuffer: 'redis',
    securityEventWindowMs: config.SECURITY_EVENT_WINDOW_MS,
    securityRelayIntervalMs: config.SECURITY_RELAY_INTERVAL_MS,
    internal: { service: SERVICE_NAME, keysJson: config.INTERNAL_AUTH_KEYS, permissions: {}, complianceUrl: config.COMPLIANCE_SERVICE_URL },
    ...(opts.securityEvents ? { securityEvents: opts.securityEvents } : {}),
  })
  await fastify.register(securityHeaders)
  const origins = config.CORS_ORIGINS.split(',')
    .map((o) => o.trim())
    .filter(Boolean)
  await fastify.register(cors, { origin: origins.length > 0 ? origins : false, credentials: false, exposedHeaders: ['x-request-id', 'retry-after', 'location'] })
  await fastify.register(edgeGuard, { bodyLimit: config.BODY_LIMIT_BYTES })
  await fastify.register(inFlightLimit, { maxPerClient: config.MAX_IN_FLIGHT_PER_CLIENT })
  await fastify.register(gatewayRateLimit, { config })
  await fastify.register(openapiMerge, { upstreams, ttlMs: config.OPENAPI_CACHE_TTL_MS })
  await fastify.register(proxy, { config })
  await fastify.register(consoleApp, { config, ...(opts.consoleRoot ? { root: opts.consoleRoot } : {}) })
}

// Not encapsulated: the service's decorators belong to the instance that runs it (and tests read them).
export default fp(apiGateway, { name: 'api-gateway', fastify: '5.x' })
