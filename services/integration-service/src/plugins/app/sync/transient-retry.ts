// Transient database errors — a backend terminated (failover, pg_terminate_backend, a restart), a
// connection dropped, a serialization failure or a deadlock — are retried inside the step that
// met them, with backoff, instead of failing the job and spending one of its attempts. Each step
// is one transaction, so a retry re-runs it from the start; the runner's writes are fenced and
// idempotent (see sync-state-repository `holds`), which also covers a commit whose answer was lost.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Database } from '@hub/service-kit'

/** SQLSTATEs worth another try: connection exceptions, admin shutdown, serialization, deadlock, too many connections. */
const TRANSIENT_CODES = new Set(['57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006', '08007', '40001', '40P01', '53300'])
/** node-postgres reports a dropped socket by message only. */
const TRANSIENT_MESSAGES = /connection terminated|connection error|terminating connection|ECONNRESET|ECONNREFUSED|EPIPE|Client was closed|Connection is closed/i

export function isTransientDbError(error: unknown): boolean {
  const candidate = error as { code?: unknown; message?: unknown } | null
  if (!candidate) return false
  if (typeof candidate.code === 'string' && TRANSIENT_CODES.has(candidate.code)) return true
  if (typeof candidate.code === 'string' && /^(ECONNRESET|ECONNREFUSED|EPIPE)$/.test(candidate.code)) return true
  return typeof candidate.message === 'string' && TRANSIENT_MESSAGES.test(candidate.message)
}

export interface TransientRetryOptions {
  /** How long one step keeps trying before its error counts (default 30 s: a failover or a storm). */
  budgetMs?: number
  baseMs?: number
  maxMs?: number
  onRetry?: (error: unknown, attempt: number) => void
}

export async function retryTransient<T>(step: () => Promise<T>, options: TransientRetryOptions = {}): Promise<T> {
  const deadline = Date.now() + (options.budgetMs ?? 30_000)
  for (let attempt = 1; ; attempt++) {
    try {
      return await step()
    } catch (error) {
      if (!isTransientDbError(error) || Date.now() >= deadline) throw error
      options.onRetry?.(error, attempt)
      // Full jitter keeps a crowd of workers from coming back in step.
      const ceiling = Math.min(options.maxMs ?? 2_000, (options.baseMs ?? 50) * 2 ** (attempt - 1))
      await sleep(Math.max(10, Math.round(Math.random() * ceiling)))
    }
  }
}

/** The same database, every transaction of which is retried on transient errors. */
export function withTransientRetries(db: Pick<Database, 'withTenant' | 'withSystemScope'>, options: TransientRetryOptions = {}): Pick<Database, 'withTenant' | 'withSystemScope'> {
  return {
    withTenant: (tenantId, fn) => retryTransient(() => db.withTenant(tenantId, fn), options),
    withSystemScope: (fn) => retryTransient(() => db.withSystemScope(fn), options),
  }
}
