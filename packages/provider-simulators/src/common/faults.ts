// Faults injected on demand through a simulator's control API. Each provider decides how a
// fault looks on its wire (its own error body, status and headers); this module only decides
// whether the next request of an account gets one.
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyReply, FastifyRequest } from 'fastify'

export type FaultKind = 'rate_limit' | 'server_error' | 'slow' | 'reset' | 'expired_token'

export interface FaultPlan {
  kind: FaultKind
  /** How many matching requests get the fault; omitted means until cleared. */
  times?: number
  /** Only for this account (provider-specific account id); omitted means every account. */
  account?: string
  /** Only for request paths containing this string. */
  pathIncludes?: string
  /** Seconds a rate-limited caller is told to wait. */
  retryAfterSeconds?: number
  /** Extra latency for `slow`. */
  delayMs?: number
}

export interface FaultRenderer {
  /** Sends the provider's own error for the fault (never called for `slow` or `reset`). */
  render(kind: Exclude<FaultKind, 'slow' | 'reset'>, plan: FaultPlan, reply: FastifyReply): FastifyReply
}

export class FaultRegistry {
  #plans: FaultPlan[] = []
  /** Every fault actually served, for tests that measure spacing (e.g. Retry-After obeyed). */
  readonly served: Array<{ kind: FaultKind; at: number; path: string }> = []

  add(plan: FaultPlan): void {
    this.#plans.push({ ...plan })
  }

  clear(): void {
    this.#plans = []
  }

  list(): FaultPlan[] {
    return this.#plans.map((plan) => ({ ...plan }))
  }

  /** Takes the first plan matching the request, consuming one of its `times`. */
  take(account: string | undefined, path: string): FaultPlan | undefined {
    const index = this.#plans.findIndex((plan) => (plan.account === undefined || plan.account === account) && (plan.pathIncludes === undefined || path.includes(plan.pathIncludes)))
    if (index === -1) return undefined
    const plan = this.#plans[index] as FaultPlan
    if (plan.times !== undefined) {
      plan.times -= 1
      if (plan.times <= 0) this.#plans.splice(index, 1)
    }
    this.served.push({ kind: plan.kind, at: Date.now(), path })
    return plan
  }

  /**
   * Applies a pending fault to the request. Returns true when the request was answered (or its
   * socket destroyed) and the route must not run; `slow` only delays and returns false.
   */
  async apply(account: string | undefined, request: FastifyRequest, reply: FastifyReply, renderer: FaultRenderer): Promise<boolean> {
    const plan = this.take(account, request.url)
    if (!plan) return false
    switch (plan.kind) {
      case 'slow':
        await sleep(plan.delayMs ?? 2_000)
        return false
      case 'reset':
        request.raw.socket.destroy()
        return true
      default:
        renderer.render(plan.kind, plan, reply)
        return true
    }
  }
}

/**
 * A fixed-window request budget per account, modelling the providers' documented limits
 * (Stripe 100 req/s live, QuickBooks 500 req/min per realm, ...). Off unless configured.
 */
export class RequestRateLimiter {
  #windows = new Map<string, { start: number; count: number }>()
  readonly limit: number
  readonly windowMs: number

  constructor(limit: number, windowMs: number) {
    this.limit = limit
    this.windowMs = windowMs
  }

  /** Returns 0 when allowed, or the seconds to wait before the window resets. */
  hit(account: string, now = Date.now()): number {
    const window = this.#windows.get(account)
    if (!window || now - window.start >= this.windowMs) {
      this.#windows.set(account, { start: now, count: 1 })
      return 0
    }
    window.count += 1
    if (window.count <= this.limit) return 0
    return Math.max(1, Math.ceil((window.start + this.windowMs - now) / 1000))
  }
}
