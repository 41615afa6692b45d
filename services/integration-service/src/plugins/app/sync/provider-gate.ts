// Every provider call a job makes goes through here: the connection's circuit breaker, the
// provider's shared request budget, then the call; failures are counted, a 429 blocks the account
// for every worker, and short provider waits and one OAuth refresh are absorbed in place so they
// cost no job attempt.
import { inSpan, SpanKind } from '@hub/telemetry'
import { ProviderAuthError, ProviderError, ProviderRateLimitedError, ProviderUnavailableError } from '../../../providers/provider-errors.ts'
import type { ProviderName } from '../../../providers/canonical.ts'
import type { CircuitBreakers } from './circuit-breaker.ts'
import type { RateLimiter } from './rate-limiter.ts'
import { CircuitOpenError, SyncFailure } from './sync-errors.ts'
import type { SyncMetrics } from './sync-metrics.ts'

export interface GateTarget {
  tenantId: string
  connectionId: string
  provider: ProviderName
  /** The provider account the budget belongs to (Stripe account, Square merchant, realm...). */
  scope: string
}

export type StopReason = 'cancelled' | 'shutdown'

/** A run was asked to stop (cancel or shutdown) while it waited or between pages. */
export class RunInterrupted extends Error {
  readonly reason: StopReason
  constructor(reason: StopReason) {
    super(`run interrupted: ${reason}`)
    this.name = 'RunInterrupted'
    this.reason = reason
  }
}

export interface RetryOptions {
  /** Current stop request, if any (checked while waiting). */
  stopReason: () => StopReason | null
  /** After a ProviderAuthError: true to retry once (tokens refreshed), false to stop. */
  onAuthFailure: () => Promise<boolean>
  /** Called before each retry after an absorbed failure (e.g. to rebuild an iterator). */
  onRetry?: (error: ProviderError) => void
}

export function createProviderGate(deps: { limiter: RateLimiter; breakers: CircuitBreakers; metrics: SyncMetrics; maxInlineWaitMs: number; maxInlineRetries?: number }) {
  const { limiter, breakers, metrics } = deps
  const maxInlineRetries = deps.maxInlineRetries ?? 50

  /** One provider request (or one page of them) under the breaker and the budget. */
  async function call<T>(target: GateTarget, fn: () => Promise<T>, options: { cost?: number; stopReason?: () => StopReason | null; operation?: string } = {}): Promise<T> {
    // One span per provider call (breaker and budget waits included, as they are part of its time);
    // the SDK's own HTTP request is its child. Ids, names and outcomes only: never the payload.
    return inSpan(
      `provider ${target.provider} ${options.operation ?? 'call'}`,
      { kind: SpanKind.CLIENT, attributes: { 'provider.name': target.provider, 'provider.operation': options.operation ?? 'call', 'provider.cost': options.cost ?? 1 } },
      async (span) => {
        try {
          const result = await gatedCall(target, fn, options)
          span.setAttribute('provider.outcome', 'ok')
          return result
        } catch (error) {
          const kind = error instanceof ProviderError ? error.kind : error instanceof SyncFailure ? error.code : error instanceof Error ? error.name : 'error'
          span.setAttribute('provider.outcome', kind)
          if (error instanceof ProviderError && error.status !== undefined) span.setAttribute('http.response.status_code', error.status)
          if (error instanceof ProviderRateLimitedError) span.setAttribute('provider.retry_after_ms', error.retryAfterMs)
          if (error instanceof SyncFailure && error.retryAfterMs !== undefined) span.setAttribute('provider.retry_after_ms', error.retryAfterMs)
          throw error
        }
      },
      { expected: (error) => error instanceof RunInterrupted },
    )
  }

  async function gatedCall<T>(target: GateTarget, fn: () => Promise<T>, options: { cost?: number; stopReason?: () => StopReason | null }): Promise<T> {
    try {
      await breakers.before(target.connectionId)
    } catch (error) {
      if (error instanceof CircuitOpenError) metrics.providerError(target.provider, 'circuit_open')
      throw error
    }
    const granted = await limiter.acquire(target.provider, target.scope, options.cost ?? 1, { maxWaitMs: deps.maxInlineWaitMs, shouldStop: () => options.stopReason?.() != null })
    if (granted.status === 'stopped') throw new RunInterrupted(options.stopReason?.() ?? 'shutdown')
    if (granted.status === 'too_long') {
      throw new SyncFailure('PROVIDER_RATE_LIMITED', `The ${target.provider} request budget is exhausted for ${Math.ceil(granted.waitMs / 1000)} s.`, { disposition: 'defer', retryAfterMs: granted.waitMs })
    }
    try {
      const result = await fn()
      await breakers.success(target.connectionId)
      return result
    } catch (error) {
      if (error instanceof ProviderError) {
        metrics.providerError(target.provider, error.kind)
        if (error instanceof ProviderUnavailableError) {
          await breakers.failure(target.connectionId, { tenantId: target.tenantId, provider: target.provider, message: error.message })
        } else {
          // The provider answered: it is up, whatever it thought of the request.
          await breakers.success(target.connectionId)
        }
        if (error instanceof ProviderRateLimitedError) await limiter.block(target.provider, target.scope, error.retryAfterMs)
      }
      throw error
    }
  }

  /**
   * Runs `attempt` (which makes gated calls) and re-runs it after a rate limit whose wait is short
   * enough to sleep here (the budget's block makes the next call wait it out), and once after an
   * auth failure the connection could recover from (OAuth refresh). Anything else is thrown.
   */
  async function withRetries<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
    let authRetried = false
    for (let retries = 0; ; retries++) {
      try {
        return await attempt()
      } catch (error) {
        if (error instanceof ProviderRateLimitedError && error.retryAfterMs <= deps.maxInlineWaitMs && retries < maxInlineRetries) {
          options.onRetry?.(error)
          continue
        }
        if (error instanceof ProviderAuthError && !authRetried) {
          authRetried = true
          if (await options.onAuthFailure()) {
            options.onRetry?.(error)
            continue
          }
        }
        throw error
      }
    }
  }

  return { call, withRetries }
}

export type ProviderGate = ReturnType<typeof createProviderGate>
