// A circuit breaker per connection, kept in Redis so every worker (and the API process, for the
// admin view and reset) sees the same state. Consecutive provider outages open it; while open,
// nobody calls that provider for the connection; after the open period one caller probes
// (half-open): success closes it, failure opens it again.
import type { Redis } from 'ioredis'
import { CircuitOpenError } from './sync-errors.ts'

export type BreakerState = 'closed' | 'open' | 'half_open'

export interface BreakerStatus {
  connectionId: string
  tenantId: string | null
  provider: string | null
  state: BreakerState
  failures: number
  openedAt: string | null
  openUntil: string | null
  lastError: string | null
}

// KEYS: breaker, probe. ARGV: none. Returns {decision, wait}: 0 = go, 1 = open (wait ms), 2 = probe granted.
const BEFORE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local openUntil = tonumber(redis.call('HGET', KEYS[1], 'openUntil') or '0')
if openUntil == 0 then return {0, 0} end
if now < openUntil then return {1, openUntil - now} end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return {2, 0} end
return {1, 1000}
`

// KEYS: breaker, probe. ARGV: threshold, openMs, tenantId, provider, message.
const FAILURE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
redis.call('HSET', KEYS[1], 'tenantId', ARGV[3], 'provider', ARGV[4], 'lastError', ARGV[5])
local openUntil = tonumber(redis.call('HGET', KEYS[1], 'openUntil') or '0')
local probing = redis.call('EXISTS', KEYS[2]) == 1 and openUntil > 0 and now >= openUntil
if failures >= tonumber(ARGV[1]) or probing then
  redis.call('HSET', KEYS[1], 'openedAt', tostring(now), 'openUntil', tostring(now + tonumber(ARGV[2])))
  redis.call('DEL', KEYS[2])
end
redis.call('PEXPIRE', KEYS[1], 86400000)
return failures
`

export function createCircuitBreakers(deps: { redis: Redis; prefix: string; failureThreshold: number; openMs: number }) {
  const { redis } = deps
  const base = `${deps.prefix}sync:breaker:`
  const keys = (connectionId: string) => [`${base}${connectionId}`, `${base}probe:${connectionId}`] as const
  /** Connections known closed by this process: a success on them costs no Redis call. */
  const knownClosed = new Set<string>()

  function statusOf(connectionId: string, hash: Record<string, string>, now: number): BreakerStatus {
    const openUntil = Number(hash.openUntil ?? 0)
    const state: BreakerState = openUntil === 0 ? 'closed' : now < openUntil ? 'open' : 'half_open'
    return {
      connectionId,
      tenantId: hash.tenantId ?? null,
      provider: hash.provider ?? null,
      state,
      failures: Number(hash.failures ?? 0),
      openedAt: hash.openedAt ? new Date(Number(hash.openedAt)).toISOString() : null,
      openUntil: openUntil ? new Date(openUntil).toISOString() : null,
      lastError: hash.lastError ?? null,
    }
  }

  return {
    /** Throws CircuitOpenError while the breaker is open (or another caller holds the probe). */
    async before(connectionId: string): Promise<void> {
      const [breaker, probe] = keys(connectionId)
      const [decision, wait] = (await redis.eval(BEFORE, 2, breaker, probe, deps.openMs)) as [number, number]
      if (decision === 1) {
        knownClosed.delete(connectionId)
        throw new CircuitOpenError(wait)
      }
      if (decision === 2) knownClosed.delete(connectionId)
    },

    async success(connectionId: string): Promise<void> {
      if (knownClosed.has(connectionId)) return
      await redis.del(...keys(connectionId))
      knownClosed.add(connectionId)
    },

    /** An outage (5xx, timeout, reset): counts towards opening the breaker. */
    async failure(connectionId: string, meta: { tenantId: string; provider: string; message: string }): Promise<void> {
      knownClosed.delete(connectionId)
      const [breaker, probe] = keys(connectionId)
      await redis.eval(FAILURE, 2, breaker, probe, deps.failureThreshold, deps.openMs, meta.tenantId, meta.provider, meta.message.slice(0, 300))
    },

    /** Every breaker that is not plainly closed (open, half-open, or closed with recent failures). */
    async states(filter: { tenantId?: string } = {}): Promise<BreakerStatus[]> {
      const out: BreakerStatus[] = []
      const now = Date.now()
      let cursor = '0'
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `${base}*`, 'COUNT', 500)
        cursor = next
        for (const key of found) {
          if (key.startsWith(`${base}probe:`)) continue
          const hash = await redis.hgetall(key)
          if (Object.keys(hash).length === 0) continue
          const status = statusOf(key.slice(base.length), hash, now)
          if (!filter.tenantId || status.tenantId === filter.tenantId) out.push(status)
        }
      } while (cursor !== '0')
      return out.sort((a, b) => a.connectionId.localeCompare(b.connectionId))
    },

    async state(connectionId: string): Promise<BreakerStatus> {
      return statusOf(connectionId, await redis.hgetall(keys(connectionId)[0]), Date.now())
    },

    /** Closes the breaker by hand (admin). Returns whether there was anything to reset. */
    async reset(connectionId: string): Promise<boolean> {
      knownClosed.delete(connectionId)
      return (await redis.del(...keys(connectionId))) > 0
    },
  }
}

export type CircuitBreakers = ReturnType<typeof createCircuitBreakers>
