// The four priority queues. Each is its own Bull queue with its own worker concurrency, so a
// webhook (critical) never waits behind a backlog of batch work (low). Jobs carry ids only.
import Bull from 'bull'
import { Redis, type RedisOptions } from 'ioredis'
import { currentTraceCarrier, type TraceCarrier } from '@hub/telemetry'
import type { EntityName, ProviderName } from '../../../providers/canonical.ts'

export const QUEUES = {
  critical: 'integration-critical',
  high: 'integration-high',
  normal: 'integration-normal',
  low: 'integration-low',
} as const
export type QueueKey = keyof typeof QUEUES
export type QueueName = (typeof QUEUES)[QueueKey]
export const QUEUE_KEYS = Object.keys(QUEUES) as QueueKey[]

/** A pull of one entity of one connection. */
export interface SyncJobData {
  kind: 'sync'
  tenantId: string
  venueId: string
  connectionId: string
  provider: ProviderName
  entity: EntityName
  mode: 'full' | 'incremental'
  trigger: 'webhook' | 'manual' | 'scheduled' | 'batch'
  /** The sync_logs row this run reports into (created when the job is enqueued). */
  syncLogId: string
}

/** Processing of one stored webhook event (webhook_inbox row). */
export interface WebhookJobData {
  kind: 'webhook'
  tenantId: string
  connectionId: string
  inboxId: string
}

/** A push to a destination provider, in batches. */
export interface PushJobData {
  kind: 'push'
  tenantId: string
  venueId: string
  /** The destination connection (Mailchimp or QuickBooks). */
  connectionId: string
  operation: 'mailchimp.upsert_contacts' | 'quickbooks.sales_receipts'
  syncLogId: string
}

/**
 * A reconciliation job (plugins/app/reconciliation): the runs it carries, or a scheduled tick that
 * opens the connection's runs. It reports into reconciliation_runs, never a sync log.
 */
export interface ReconcileJobData {
  kind: 'reconcile'
  tenantId: string
  venueId: string
  connectionId: string
  action: 'runs' | 'scheduled'
  /** Scheduled ticks: a daily full run or an hourly quick check. */
  mode?: 'full' | 'quick'
  runIds?: string[]
  syncLogId?: undefined
}

/**
 * Every job may carry the W3C trace context of the request that enqueued it, so the worker's span
 * for the job continues that trace (see carryTraceContext).
 */
export type JobData = (SyncJobData | WebhookJobData | PushJobData | ReconcileJobData) & { trace?: TraceCarrier }

export interface SyncQueues {
  queues: Record<QueueKey, Bull.Queue<JobData>>
  byName(name: string): Bull.Queue<JobData> | undefined
  close(): Promise<void>
}

/** Bounded history so Redis does not grow without end; failures are kept longer for operators. */
export const DEFAULT_JOB_OPTIONS: Bull.JobOptions = {
  attempts: 6,
  backoff: { type: 'jittered' },
  removeOnComplete: { age: 24 * 3600, count: 2_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
}

export interface BackoffOptions {
  baseMs: number
  maxMs: number
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 2_000, maxMs: 300_000 }

/**
 * The `jittered` strategy: exponential backoff with full jitter (random(0, min(max, base·2^n))),
 * never shorter than the `retryAfterMs` a failure carries (a provider's Retry-After, an open
 * circuit breaker). A failure marked `retryImmediately` (a worker handing its job back on
 * shutdown) goes straight back to waiting.
 */
export function jitteredBackoff(options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): (attemptsMade: number, error?: unknown) => number {
  return (attemptsMade, error) => {
    const failure = (error ?? {}) as { retryAfterMs?: unknown; retryImmediately?: unknown }
    if (failure.retryImmediately === true) return 0
    const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, attemptsMade - 1))
    const floor = typeof failure.retryAfterMs === 'number' && Number.isFinite(failure.retryAfterMs) ? failure.retryAfterMs : 0
    // Bull reads 0 as "retry now"; a computed wait is at least a millisecond.
    return Math.max(1, Math.ceil(floor), Math.round(random() * ceiling))
  }
}

export function createSyncQueues(options: { redisUrl: string; prefix: string; settings?: Bull.AdvancedSettings; backoff?: BackoffOptions; jobOptions?: Bull.JobOptions }): SyncQueues {
  // Bull wants one shared client and subscriber, and a fresh blocking client per queue.
  const base: RedisOptions = { maxRetriesPerRequest: null, enableReadyCheck: false }
  // Connection errors surface through the queues' `error` events and the readiness check; a
  // client without a listener of its own would also print each one as unhandled.
  const connect = () => new Redis(options.redisUrl, base).on('error', () => undefined)
  const shared = { client: connect(), subscriber: connect() }
  const blocking: Redis[] = []
  const createClient = (type: 'client' | 'subscriber' | 'bclient') => {
    if (type === 'bclient') {
      const client = connect()
      blocking.push(client)
      return client
    }
    return shared[type]
  }
  // Every queue knows the `jittered` strategy DEFAULT_JOB_OPTIONS names.
  const settings: Bull.AdvancedSettings = { ...options.settings, backoffStrategies: { jittered: jitteredBackoff(options.backoff), ...options.settings?.backoffStrategies } }
  const queues = Object.fromEntries(
    QUEUE_KEYS.map((key) => [key, new Bull<JobData>(QUEUES[key], { createClient, prefix: `${options.prefix}bull`, defaultJobOptions: { ...DEFAULT_JOB_OPTIONS, ...options.jobOptions }, settings })]),
  ) as Record<QueueKey, Bull.Queue<JobData>>
  for (const key of QUEUE_KEYS) carryTraceContext(queues[key])
  return {
    queues,
    byName: (name) => QUEUE_KEYS.map((key) => queues[key]).find((queue) => queue.name === name),
    async close() {
      await Promise.all(QUEUE_KEYS.map((key) => queues[key].close()))
      for (const client of [shared.client, shared.subscriber, ...blocking]) client.disconnect()
    },
  }
}

/**
 * Jobs added with a traced request active carry its trace context in their data (`trace`), so the
 * worker continues the trace. Repeatable jobs do not: every repetition is a run of its own.
 * Wrapping the queue here covers every enqueue path (API, relays, admin retries) in one place.
 */
function carryTraceContext(queue: Bull.Queue<JobData>): void {
  const withTrace = (data: JobData, opts: Bull.JobOptions | undefined): JobData => {
    if (opts?.repeat || data.trace) return data
    const trace = currentTraceCarrier()
    return trace ? { ...data, trace } : data
  }
  const add = queue.add.bind(queue) as (...args: unknown[]) => Promise<Bull.Job<JobData>>
  const addBulk = queue.addBulk.bind(queue)
  queue.add = ((...args: unknown[]) => {
    const named = typeof args[0] === 'string'
    const at = named ? 1 : 0
    const next = [...args]
    next[at] = withTrace(args[at] as JobData, args[at + 1] as Bull.JobOptions | undefined)
    return add(...next)
  }) as typeof queue.add
  queue.addBulk = ((jobs: Parameters<typeof queue.addBulk>[0]) => addBulk(jobs.map((job) => ({ ...job, data: withTrace(job.data, job.opts) })))) as typeof queue.addBulk
}
