// Per-provider request budgets shared by every worker: a token bucket per (provider, account) in
// Redis, refilled continuously, plus a "blocked until" key set when a provider answers 429 so
// that every worker, not only the one that was told, waits out the Retry-After. Times come from
// Redis' clock, so workers on different machines agree.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import type { ProviderName } from '../../../providers/canonical.ts'

export interface RateBudget {
  /** Requests allowed per window. */
  requests: number
  windowMs: number
}

/** Parses "25/1s", "500/1m" or "10/250ms". */
export function parseRateBudget(text: string): RateBudget {
  const match = /^(\d+)\/(\d+)(ms|s|m)$/.exec(text)
  if (!match) throw new Error(`not a rate budget: ${text}`)
  const unit = { ms: 1, s: 1_000, m: 60_000 }[match[3] as 'ms' | 's' | 'm']
  return { requests: Number(match[1]), windowMs: Number(match[2]) * unit }
}

// KEYS: bucket, block. ARGV: tokens per ms, capacity, cost. Returns 0 when granted, else ms to wait.
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return blocked end
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then tokens = capacity; ts = now end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= cost then tokens = tokens - cost else wait = math.ceil((cost - tokens) / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate) + 60000)
return wait
`

// KEYS: block. ARGV: ms. Extends the block, never shortens it.
const BLOCK = `
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
return 1
`

export interface AcquireOptions {
  /** Checked between waits: return true to give up (cancel, shutdown). */
  shouldStop?: () => boolean
  /** A single wait longer than this is not slept: acquire returns it instead. */
  maxWaitMs?: number
}

/** `granted`, `stopped` (shouldStop said so), or the wait that exceeded `maxWaitMs`. */
export type AcquireResult = { status: 'granted' } | { status: 'stopped' } | { status: 'too_long'; waitMs: number }

/**
 * Bucket shape for a budget: a small burst and a refill rate that keep any window of `windowMs`
 * at or under `requests` (burst + rate·window ≤ requests). The burst is what the sustained rate
 * gives up, so it is kept to 2 % of the budget (at least one request): a budget of 100/s sustains
 * 98/s (it was a tenth, which capped every sync at 90 % of its ceiling), 25/s sustains 24/s.
 */
export function bucketShape(budget: RateBudget): { capacity: number; perMs: number } {
  const capacity = Math.max(1, Math.floor(budget.requests / 50))
  const refill = Math.max(1, budget.requests - capacity)
  return { capacity, perMs: refill / budget.windowMs }
}

export function createRateLimiter(deps: { redis: Redis; prefix: string; budgets: Record<ProviderName, RateBudget> }) {
  const { redis } = deps
  const key = (kind: 'bucket' | 'block', provider: ProviderName, scope: string) => `${deps.prefix}sync:ratelimit:${kind}:${provider}:${scope}`

  async function takeOnce(provider: ProviderName, scope: string, cost: number): Promise<number> {
    const { capacity, perMs } = bucketShape(deps.budgets[provider])
    return Number(await redis.eval(TAKE, 2, key('bucket', provider, scope), key('block', provider, scope), perMs, capacity, Math.min(cost, capacity)))
  }

  return {
    /** Waits until `cost` requests fit the budget of `provider` for this account (scope). */
    async acquire(provider: ProviderName, scope: string, cost = 1, options: AcquireOptions = {}): Promise<AcquireResult> {
      const { capacity } = bucketShape(deps.budgets[provider])
      let remaining = cost
      while (remaining > 0) {
        const portion = Math.min(remaining, capacity)
        const wait = await takeOnce(provider, scope, portion)
        if (wait === 0) {
          remaining -= portion
          continue
        }
        if (options.maxWaitMs !== undefined && wait > options.maxWaitMs) return { status: 'too_long', waitMs: wait }
        if (options.shouldStop?.()) return { status: 'stopped' }
        // Short naps so a cancel or shutdown is noticed; the bucket is asked again after each.
        await sleep(Math.min(wait, 1_000))
      }
      return { status: 'granted' }
    },

    /** A provider said "wait": nobody calls it for this account before `ms` have passed. */
    async block(provider: ProviderName, scope: string, ms: number): Promise<void> {
      if (ms > 0) await redis.eval(BLOCK, 1, key('block', provider, scope), Math.ceil(ms))
    },

    /** Milliseconds left on a provider-imposed wait (0 when none). */
    async blockedFor(provider: ProviderName, scope: string): Promise<number> {
      return Math.max(0, await redis.pttl(key('block', provider, scope)))
    },
  }
}

export type RateLimiter = ReturnType<typeof createRateLimiter>
