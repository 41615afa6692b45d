// Rate limits shared by every gateway replica through Redis: per user when authenticated, per IP
// otherwise, and a stricter budget for credential and configuration writes.
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import { clipPath } from '@hub/service-kit'
import type { GatewayConfig } from '../../config.ts'
import { isSensitive, normalisedPath } from './upstreams.ts'
import { fallbackRateLimitStore } from './rate-limit-store.ts'

type Bucket = 'user' | 'sensitive' | 'anonymous' | 'webhook'

function bucketOf(request: FastifyRequest): Bucket {
  // The route that will answer, not a re-reading of the URL: the router is case-sensitive, so
  // `/WEBHOOKS/` or `//webhooks/` reaches the authenticated proxy and must not get the webhook budget.
  if (request.routeOptions.url?.startsWith('/api/v1/integrations/webhooks')) return 'webhook'
  const path = normalisedPath(request.url)
  if (!request.principal) return 'anonymous'
  return isSensitive(request.method, path) ? 'sensitive' : 'user'
}

export default fp(
  async (fastify, opts: { config: GatewayConfig }) => {
    const { config } = opts
    const max: Record<Bucket, number> = {
      user: config.RATE_LIMIT_USER_MAX,
      sensitive: config.RATE_LIMIT_SENSITIVE_MAX,
      anonymous: config.RATE_LIMIT_ANONYMOUS_MAX,
      // Providers deliver bursts from few addresses; their signatures are checked downstream.
      webhook: config.RATE_LIMIT_ANONYMOUS_MAX * 10,
    }
    // A caller over its budget is logged once per window, not once per refused request: a flood
    // of refusals would otherwise cost more log than the requests it refuses. Every refusal is
    // still reported; the reporter folds repeats into one stored event with a count.
    const loggedUntil = new Map<string, number>()
    const firstRefusalInWindow = (key: string): boolean => {
      const now = Date.now()
      if ((loggedUntil.get(key) ?? 0) > now) return false
      if (loggedUntil.size >= 10_000) for (const [k, until] of loggedUntil) if (until <= now) loggedUntil.delete(k)
      loggedUntil.set(key, now + config.RATE_LIMIT_WINDOW_MS)
      return true
    }
    // The counters get their own connection with auto-pipelining: one command per request, and
    // the checks of requests that arrive together leave in one socket write instead of one each
    // (a write per command was 13 % of the gateway's CPU in a profile). Kept off the shared
    // connection, whose callers (readiness, security events) time their own failures.
    const counters = fastify.redis.duplicate({ enableAutoPipelining: true })
    counters.on('error', (error) => fastify.log.warn({ err: { message: error.message } }, 'redis error (rate-limit counters)'))
    // Connected before the first request, or its first counts would go to the in-memory fallback
    // while the rest go to Redis; a Redis that is down holds start-up for a second at most.
    fastify.addHook('onReady', async () => {
      await counters.ping().catch(() => undefined)
    })
    fastify.addHook('onClose', async () => {
      await counters.quit().catch(() => counters.disconnect())
    })
    await fastify.register(rateLimit, {
      global: true,
      // Shared in Redis; per instance, in memory, within milliseconds when Redis is unavailable.
      store: fallbackRateLimitStore({ redis: counters, prefix: `${fastify.redisPrefix}rl:`, timeoutMs: config.RATE_LIMIT_REDIS_TIMEOUT_MS, registry: fastify.metrics.registry }),
      timeWindow: config.RATE_LIMIT_WINDOW_MS,
      // The store answers even without Redis; an error left over still does not block traffic.
      skipOnError: true,
      keyGenerator: (request) => {
        const bucket = bucketOf(request)
        const who = request.principal ? `${request.principal.tenantId}:${request.principal.userId}` : request.ip
        return `${bucket}:${who}`
      },
      max: (request) => max[bucketOf(request)],
      onExceeded: (request, key) => {
        if (firstRefusalInWindow(key)) request.log.warn({ bucket: bucketOf(request) }, 'rate limit reached; further refusals in this window are not logged')
        else request.quietLog = true
        fastify.securityEvents.report({
          type: 'RATE_LIMIT',
          severity: 'low',
          source: 'api-gateway',
          code: 'RATE_LIMITED',
          tenantId: request.principal?.tenantId ?? null,
          actor: request.principal?.userId ?? null,
          ip: request.ip,
          method: request.method,
          path: clipPath(request.url.split('?')[0] ?? request.url),
          requestId: String(request.id),
          details: { bucket: bucketOf(request) },
        })
      },
      errorResponseBuilder: (_request, context) => Object.assign(new Error(`Rate limit exceeded: ${context.max} requests per ${context.after}. Retry after ${Math.ceil(context.ttl / 1000)} s.`), { statusCode: 429, code: 'RATE_LIMITED' }),
    })
  },
  { name: 'gateway-rate-limit', dependencies: ['@hub/service-kit'] },
)
