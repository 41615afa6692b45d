// The rate-limit store: counters shared by every gateway replica in Redis, and a per-instance
// in-memory fixed window the moment Redis is not connected or does not answer within
// RATE_LIMIT_REDIS_TIMEOUT_MS — so a Redis outage costs the shared budget (each replica then
// limits on its own), never the latency of every request. `gateway_rate_limit_fallback_total`
// counts the decisions taken locally and `gateway_rate_limit_degraded` says which store is in use.
import { createHash } from 'node:crypto'
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import type { Redis } from 'ioredis'
import { Counter, Gauge, type Registry } from 'prom-client'

// The same fixed window as @fastify/rate-limit's own Redis store.
const INCR = `
local current = redis.call('INCR', KEYS[1])
local ttl = tonumber(ARGV[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ttl) else ttl = redis.call('PTTL', KEYS[1]) end
return {current, ttl}`
// Sent by hash (EVALSHA): the script text once per Redis, not with every request.
const INCR_SHA = createHash('sha1').update(INCR).digest('hex')

type Result = { current: number; ttl: number }
type Callback = (error: Error | null, result?: Result) => void

/** Per-instance fixed windows, bounded so a flood of distinct keys cannot grow it without end. */
export function createLocalWindows(maxKeys = 50_000) {
  const windows = new Map<string, { current: number; resetAt: number }>()
  return {
    incr(key: string, timeWindow: number, now = Date.now()): Result {
      let entry = windows.get(key)
      if (!entry || entry.resetAt <= now) {
        if (!entry && windows.size >= maxKeys) {
          for (const [candidate, value] of windows) if (value.resetAt <= now) windows.delete(candidate)
          // Still full of live windows: the oldest goes.
          if (windows.size >= maxKeys) windows.delete(windows.keys().next().value as string)
        }
        entry = { current: 0, resetAt: now + timeWindow }
        windows.set(key, entry)
      }
      entry.current++
      return { current: entry.current, ttl: entry.resetAt - now }
    },
  }
}

export function fallbackRateLimitStore(options: { redis: Redis; prefix: string; timeoutMs: number; registry: Registry }): FastifyRateLimitStoreCtor {
  const { redis, prefix, timeoutMs } = options
  const local = createLocalWindows()
  const fallbacks = new Counter({ name: 'gateway_rate_limit_fallback_total', help: 'Rate-limit decisions taken by the per-instance in-memory limiter because Redis was unavailable', labelNames: ['reason'], registers: [options.registry] })
  const degraded = new Gauge({ name: 'gateway_rate_limit_degraded', help: '1 while rate limits are counted per instance (Redis unavailable), 0 while shared in Redis', registers: [options.registry] })
  degraded.set(0)

  const fallBack = (key: string, timeWindow: number, reason: string, callback: Callback): void => {
    fallbacks.inc({ reason })
    degraded.set(1)
    callback(null, local.incr(key, timeWindow))
  }

  class Store implements FastifyRateLimitStore {
    readonly namespace: string
    // The plugin constructs the store with its options; children carry their route's namespace.
    constructor(_options?: unknown, namespace = '') {
      this.namespace = namespace
    }

    incr(key: string, callback: Callback, timeWindow: number): void {
      // Not connected: decide here and now instead of queueing behind reconnects.
      key = `${this.namespace}${key}`
      if (redis.status !== 'ready') return fallBack(key, timeWindow, 'disconnected', callback)
      let settled = false
      const timer = setTimeout(() => {
        settled = true
        fallBack(key, timeWindow, 'timeout', callback)
      }, timeoutMs)
      const redisKey = `${prefix}${key}`
      redis
        .evalsha(INCR_SHA, 1, redisKey, timeWindow)
        // A Redis that has not seen the script yet (or restarted since) gets it once.
        .catch((error: unknown) => (String((error as Error)?.message).startsWith('NOSCRIPT') ? redis.eval(INCR, 1, redisKey, timeWindow) : Promise.reject(error)))
        .then(
          (reply) => {
            clearTimeout(timer)
            if (settled) return
            const [current, ttl] = reply as [number, number]
            degraded.set(0)
            callback(null, { current: Number(current), ttl: Number(ttl) })
          },
          () => {
            clearTimeout(timer)
            if (!settled) fallBack(key, timeWindow, 'error', callback)
          },
        )
    }

    /** A route with its own limits counts in its own namespace (as the plugin's stores do). */
    child(routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
      const route = (routeOptions as unknown as { routeInfo?: { method?: string; url?: string } }).routeInfo
      return new Store(undefined, `${this.namespace}${route?.method ?? ''}${route?.url ?? ''}-`)
    }
  }
  return Store
}
