// The sync engine on the instance. Both processes register it: the API process only enqueues
// and inspects (`fastify.syncEngine`); the worker process also calls `startSyncProcessing`.
//
// fastify.syncEngine (SyncEngine), for routes:
//   enqueueSync(input: { tenantId, venueId, connectionId, entities?: EntityName[], mode: 'full' | 'incremental',
//       trigger: 'webhook' | 'manual' | 'scheduled' | 'batch', queue: 'critical' | 'high' | 'normal' | 'low', actor?: AuditActor })
//     → Promise<{ jobs: Array<{ entity, jobId, syncLogId, queue: QueueName }> }>
//     throws CONNECTION_NOT_FOUND (404), CONNECTION_NOT_ACTIVE (409), ENTITY_NOT_SUPPORTED (400),
//     SYNC_ALREADY_RUNNING (409, extra.entities), QUEUE_UNAVAILABLE (503)
//   enqueuePush(input: { tenantId, venueId, connectionId, operation: 'mailchimp.upsert_contacts' | 'quickbooks.sales_receipts',
//       trigger?, actor? }) → Promise<{ entity, jobId, syncLogId, queue }>
//   enqueueWebhook(item: { tenantId, connectionId, inboxId }) → Promise<string /* job id */>
//   enqueueWebhooks(items[]) → Promise<void> (per tenant one announcement transaction, one bulk add, one update: the intake's dispatch)
//   requeueWebhooks(items[]) → Promise<void> (the same job ids again, for the worker's relay: a job lost with Redis is re-created, one Bull still holds is kept)
//   getJob(tenantId, jobId) → Promise<JobView { id, queue, name, state, progress, data (ids), syncLogId, attemptsMade,
//       failedReason, result, createdAt, processedAt, finishedAt }>   throws JOB_NOT_FOUND (404, also for other tenants)
//   cancelJob(tenantId, jobId, actor?) → Promise<{ jobId, state: 'cancelled' | 'cancelling' }>
//     throws JOB_NOT_FOUND (404), JOB_FINISHED (409), JOB_NOT_CANCELLABLE (409)
//   queueCounts() → Promise<Array<{ queue, key, paused, waiting, active, delayed, completed, failed }>>
//   pauseQueue(nameOrKey, actor?) / resumeQueue(nameOrKey, actor?) → Promise<void>   throws QUEUE_NOT_FOUND (404)
//   listDeadLetters(tenantId, cursor?: string | null, limit = 50) → Promise<{ items: DeadLetter[], nextCursor: string | null }>
//     throws INVALID_CURSOR (400)
//   retryDeadLetter(tenantId, id, actor?) → Promise<{ deadLetterId, jobId, queue }>
//     throws DEAD_LETTER_NOT_FOUND (404), SYNC_ALREADY_RUNNING (409), QUEUE_UNAVAILABLE (503)
//   discardDeadLetter(tenantId, id, actor?) → Promise<DeadLetter>   throws DEAD_LETTER_NOT_FOUND (404)
//   breakerStates(tenantId?) → Promise<BreakerStatus[] { connectionId, tenantId, provider, state: 'closed' | 'open' | 'half_open',
//       failures, openedAt, openUntil, lastError }>
//   resetBreaker(connectionId, actor?) → Promise<{ connectionId, reset: boolean }>   with an actor: BREAKER_NOT_FOUND (404)
//     when the breaker belongs to another tenant. Queues are shared by all tenants: queueCounts, pause/resume
//     and bull-board are platform-operator operations.
//   scheduleConnection(tenantId, connectionId, entities: EntityName[] | undefined, every: number /* ms */ | string /* cron, UTC */)
//     → Promise<Schedule[]>   throws INVALID_SCHEDULE (400), CONNECTION_NOT_FOUND (404)
//   unscheduleConnection(tenantId, connectionId, entities?) → Promise<number /* removed */>
//   listSchedules(tenantId, connectionId) → Promise<Schedule[]>
//   queues: Record<'critical' | 'high' | 'normal' | 'low', Bull.Queue> (for bull-board)
// AuditActor = what `auditActor(request.caller)` from @hub/service-kit returns; when given, the action is audited.
// Field mappings: FIELD_TRANSFORMS / applyTransform / mappingVersion from './field-mapping.ts'
// (mapped values land in records.data.custom.<target_field>).
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { IntegrationServiceConfig } from '../../../config.ts'
import { PROVIDERS, type ProviderName } from '../../../providers/canonical.ts'
import { createCircuitBreakers, type CircuitBreakers } from './circuit-breaker.ts'
import { createDeadLetterRepository } from './dead-letter-repository.ts'
import { createJobControl, type JobControl } from './job-control.ts'
import { createProviderGate, type ProviderGate } from './provider-gate.ts'
import { createPushRunner } from './push-runner.ts'
import { parseRateBudget, createRateLimiter, type RateBudget } from './rate-limiter.ts'
import { createRecordRepository, type RecordRepository } from './record-repository.ts'
import { createSyncMetrics } from './sync-metrics.ts'
import { createSyncQueues, type QueueKey, type SyncQueues } from './sync-queues.ts'
import { createSyncRunner } from './sync-runner.ts'
import { createSyncService, type SyncService } from './sync-service.ts'
import { createSyncStateRepository, type SyncStateRepository } from './sync-state-repository.ts'
import { startSyncWorker, type ExtraProcessors, type SyncWorker } from './sync-worker.ts'
import { createSyncReconciler, type SyncReconciler } from './sync-reconciler.ts'
import { scheduleCronFor } from './schedules-from-settings.ts'
import { retryTransient, withTransientRetries } from './transient-retry.ts'
import type { ConnectionRow } from '../connections/connection-repository.ts'
import { createWebhookInboxRepository } from '../webhooks/webhook-inbox-repository.ts'
import { createWebhookProcessor } from '../webhooks/webhook-processor.ts'
import { startWebhookRelay } from '../webhooks/webhook-relay.ts'
import { createPushStateRepository } from './push-state-repository.ts'
import { guardRecordWrites } from '../subject-data/subject-guard.ts'

export type SyncEngine = SyncService
export type { AuditActor, EnqueueSyncInput, EnqueuePushInput, EnqueuedRun, JobView, JobState, QueueCounts, Schedule } from './sync-service.ts'
export type { DeadLetter } from './dead-letter-repository.ts'
export type { BreakerStatus, BreakerState } from './circuit-breaker.ts'
export { FIELD_TRANSFORMS, applyTransform, mappingVersion, type FieldTransform } from './field-mapping.ts'
export { QUEUES, QUEUE_KEYS, type QueueKey, type QueueName } from './sync-queues.ts'

export type SyncEngineConfig = Pick<
  IntegrationServiceConfig,
  | 'REDIS_URL'
  | 'REDIS_KEY_PREFIX'
  | 'SYNC_CONCURRENCY_CRITICAL'
  | 'SYNC_CONCURRENCY_HIGH'
  | 'SYNC_CONCURRENCY_NORMAL'
  | 'SYNC_CONCURRENCY_LOW'
  | 'SYNC_JOB_ATTEMPTS'
  | 'SYNC_BACKOFF_BASE_MS'
  | 'SYNC_BACKOFF_MAX_MS'
  | 'SYNC_LOCK_DURATION_MS'
  | 'SYNC_STALLED_INTERVAL_MS'
  | 'SYNC_MAX_STALLED_COUNT'
  | 'SYNC_MAX_INLINE_WAIT_MS'
  | 'SYNC_RATE_LIMIT_STRIPE'
  | 'SYNC_RATE_LIMIT_SQUARE'
  | 'SYNC_RATE_LIMIT_MAILCHIMP'
  | 'SYNC_RATE_LIMIT_QUICKBOOKS'
  | 'SYNC_BREAKER_FAILURES'
  | 'SYNC_BREAKER_OPEN_MS'
  | 'SYNC_WEBHOOK_RELAY_INTERVAL_MS'
  | 'SYNC_WEBHOOK_REQUEUE_AFTER_MS'
  | 'SYNC_RECONCILE_INTERVAL_MS'
>

/** What only the worker process uses: the processors' wiring. */
export interface SyncEngineInternals {
  syncQueues: SyncQueues
  control: JobControl
  breakers: CircuitBreakers
  reconciler: SyncReconciler
  /** The provider gate every provider call goes through (shared rate budget, circuit breakers). */
  gate: ProviderGate
  /** The sync's write path for records and its per-(connection, entity) run state. */
  records: RecordRepository
  state: SyncStateRepository
  /** Processors of other job kinds on these queues (reconciliation); register before `start`. */
  processors: ExtraProcessors
  /** `reconcile`: also run the reconciler (the worker process does; in-process test workers opt in). */
  start(options?: { skip?: QueueKey[]; reconcile?: boolean }): SyncWorker
}

declare module 'fastify' {
  interface FastifyInstance {
    syncEngine: SyncEngine
    syncEngineInternals: SyncEngineInternals
  }
}

export function rateBudgets(config: SyncEngineConfig): Record<ProviderName, RateBudget> {
  const text: Record<ProviderName, string> = { stripe: config.SYNC_RATE_LIMIT_STRIPE, square: config.SYNC_RATE_LIMIT_SQUARE, mailchimp: config.SYNC_RATE_LIMIT_MAILCHIMP, quickbooks: config.SYNC_RATE_LIMIT_QUICKBOOKS }
  return Object.fromEntries(PROVIDERS.map((provider) => [provider, parseRateBudget(text[provider])])) as Record<ProviderName, RateBudget>
}

async function syncEnginePlugin(fastify: FastifyInstance, opts: { config: SyncEngineConfig }): Promise<void> {
  const { config } = opts
  const prefix = fastify.redisPrefix
  const syncQueues = createSyncQueues({
    redisUrl: config.REDIS_URL,
    prefix,
    backoff: { baseMs: config.SYNC_BACKOFF_BASE_MS, maxMs: config.SYNC_BACKOFF_MAX_MS },
    jobOptions: { attempts: config.SYNC_JOB_ATTEMPTS },
    settings: {
      lockDuration: config.SYNC_LOCK_DURATION_MS,
      lockRenewTime: Math.floor(config.SYNC_LOCK_DURATION_MS / 2),
      stalledInterval: config.SYNC_STALLED_INTERVAL_MS,
      maxStalledCount: config.SYNC_MAX_STALLED_COUNT,
    },
  })

  // sync_logs has one repository: the runs the engine opens and finishes are sync logs.
  const runs = fastify.syncLogs
  // Every record the engine stores passes the erased-people check first (data-subject requests).
  const records = guardRecordWrites(createRecordRepository(), fastify.subjectGuard)
  const state = createSyncStateRepository()
  const deadLetters = createDeadLetterRepository()
  const inbox = createWebhookInboxRepository()
  const control = createJobControl({ redis: fastify.redis, prefix, lockTtlMs: config.SYNC_LOCK_DURATION_MS })
  const breakers = createCircuitBreakers({ redis: fastify.redis, prefix, failureThreshold: config.SYNC_BREAKER_FAILURES, openMs: config.SYNC_BREAKER_OPEN_MS })
  const limiter = createRateLimiter({ redis: fastify.redis, prefix, budgets: rateBudgets(config) })
  const metrics = createSyncMetrics(fastify.metrics.registry, syncQueues.queues)
  const gate = createProviderGate({ limiter, breakers, metrics, maxInlineWaitMs: config.SYNC_MAX_INLINE_WAIT_MS })
  const logger = fastify.log.child({ component: 'sync-engine' })

  const service = createSyncService({
    db: fastify.db,
    queues: syncQueues,
    inbox,
    connections: fastify.connections,
    providers: fastify.providers,
    runs,
    syncLogs: fastify.syncLogs,
    deadLetters,
    control,
    breakers,
    audit: fastify.auditOutbox,
    logger,
  })
  fastify.decorate('syncEngine', service)

  const reconciler = createSyncReconciler({
    db: fastify.db,
    syncLogs: fastify.syncLogs,
    connections: fastify.connections,
    queues: syncQueues,
    providers: fastify.providers,
    logger,
    scheduleFor: (tenantId, connection) => scheduleCronFor(fastify, tenantId, connection),
    schedule: (tenantId, connectionId, cron) => service.scheduleConnection(tenantId, connectionId, undefined, cron),
    unschedule: (tenantId, connectionId) => service.unscheduleConnection(tenantId, connectionId),
  })
  let reconcileTimer: NodeJS.Timeout | null = null
  let reconciling: Promise<unknown> | null = null
  const reconcileNow = (): void => {
    // One pass at a time; a pass that fails (Redis still down) is simply tried at the next tick.
    if (reconciling) return
    reconciling = reconciler
      .reconcile()
      .catch((err: unknown) => logger.warn({ err: { message: (err as Error).message } }, 'reconciler pass failed'))
      .finally(() => {
        reconciling = null
      })
  }

  let worker: SyncWorker | null = null
  const extraProcessors: ExtraProcessors = new Map()
  fastify.decorate('syncEngineInternals', {
    syncQueues,
    control,
    breakers,
    reconciler,
    gate,
    records,
    state,
    processors: extraProcessors,
    start(options = {}) {
      if (worker) return worker
      // Postgres is the truth: at start and then periodically, Redis is put back in line with it.
      if (options.reconcile) {
        reconcileNow()
        reconcileTimer = setInterval(reconcileNow, config.SYNC_RECONCILE_INTERVAL_MS)
        reconcileTimer.unref()
      }
      // A dropped connection, a failover, a serialization failure or a deadlock is retried inside
      // the step that met it and does not spend one of the job's attempts.
      const retry = { onRetry: (err: unknown) => logger.warn({ err: { message: (err as Error).message, code: (err as { code?: unknown }).code } }, 'transient database error; retrying the step') }
      const db = withTransientRetries(fastify.db, retry)
      const context = fastify.connectionContext
      const connectionContext = {
        forSync: (tenantId: string, connectionId: string, loaded?: ConnectionRow) => retryTransient(() => context.forSync(tenantId, connectionId, loaded), retry),
        bindingFor: (row: ConnectionRow) => context.bindingFor(row),
        onAuthFailure: (tenantId: string, connectionId: string, failedToken: string | undefined) => context.onAuthFailure(tenantId, connectionId, failedToken),
      }
      const shared = { db, connectionContext, syncLogs: fastify.syncLogs, runs, gate, metrics }
      worker = startSyncWorker(
        {
          queues: syncQueues,
          db,
          redis: fastify.redis,
          redisPrefix: prefix,
          syncLogs: fastify.syncLogs,
          deadLetters,
          control,
          runner: createSyncRunner({ ...shared, state, records, control, logger }),
          pushRunner: createPushRunner({ ...shared, records, pushState: createPushStateRepository(), control }),
          webhooks: createWebhookProcessor({ ...shared, records, inbox }),
          metrics,
          logger,
          processors: extraProcessors,
        },
        {
          concurrency: { critical: config.SYNC_CONCURRENCY_CRITICAL, high: config.SYNC_CONCURRENCY_HIGH, normal: config.SYNC_CONCURRENCY_NORMAL, low: config.SYNC_CONCURRENCY_LOW },
          ...(options.skip ? { skip: options.skip } : {}),
        },
      )
      // Stored webhook events whose enqueue never happened, or whose job may have been lost with Redis, go (back) to the critical queue.
      const relay = startWebhookRelay({
        db,
        inbox,
        enqueue: service.enqueueWebhook,
        requeue: service.requeueWebhooks,
        intervalMs: config.SYNC_WEBHOOK_RELAY_INTERVAL_MS,
        staleAfterMs: config.SYNC_WEBHOOK_REQUEUE_AFTER_MS,
        logger,
      })
      const processors = worker
      worker = {
        async stop() {
          relay.stop()
          await processors.stop()
        },
      }
      return worker
    },
  })

  // A disconnected connection stops being scheduled.
  fastify.connectionDisconnectHooks.push(async (tenantId, connectionId) => {
    await service.unscheduleConnection(tenantId, connectionId)
  })

  fastify.addReadinessCheck('queues', async () => {
    await syncQueues.queues.critical.client.ping()
  })
  // Running jobs checkpoint and hand back before Postgres and Redis close.
  fastify.addHook('preClose', async () => {
    if (reconcileTimer) clearInterval(reconcileTimer)
    await worker?.stop()
    await reconciling
  })
  fastify.addHook('onClose', async () => {
    await syncQueues.close()
  })
}

export default fp(syncEnginePlugin, { name: 'sync-engine', dependencies: ['@hub/service-kit', 'connections', 'sync-logs', 'subject-data'] })

/** Starts the queue processors on this instance (the integration-worker process only). */
export function startSyncProcessing(fastify: FastifyInstance, options: { skip?: QueueKey[]; reconcile?: boolean } = {}): SyncWorker {
  return fastify.syncEngineInternals.start(options)
}
