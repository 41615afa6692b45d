// The queue processors, run only by the integration-worker process: one processor per queue with
// its own concurrency (a critical job never waits behind low ones), the failure policy (stop,
// retry with backoff, wait without spending an attempt, dead-letter when attempts run out),
// metrics, and a shutdown that lets running jobs checkpoint and hands
// them back for another worker to resume.
import type Bull from 'bull'
import type { FastifyBaseLogger } from 'fastify'
import type { Redis } from 'ioredis'
import type { Database } from '@hub/service-kit'
import { annotateActiveSpan, contextFromCarrier, inSpan, SpanKind } from '@hub/telemetry'
import type { SyncLogRepository } from '../sync-logs/sync-log-repository.ts'
import type { DeadLetterRepository } from './dead-letter-repository.ts'
import { keepAttempt, type JobControl } from './job-control.ts'
import type { PushRunner } from './push-runner.ts'
import { createRunSignal, type RunSignal } from './run-signal.ts'
import { SyncFailure, toSyncFailure } from './sync-errors.ts'
import type { SyncMetrics } from './sync-metrics.ts'
import { QUEUE_KEYS, type JobData, type PushJobData, type QueueKey, type SyncJobData, type SyncQueues, type WebhookJobData } from './sync-queues.ts'
import type { RunOutcome, SyncRunner } from './sync-runner.ts'
import type { WebhookProcessor } from '../webhooks/webhook-processor.ts'

/** A job deferred (provider wait, busy lock) more often than this starts spending attempts. */
const MAX_FREE_DEFERRALS = 50
const STALLED_MESSAGE = /stalled more than allowable limit/i
const OWNERSHIP_LOST = new Set(['RUN_SUPERSEDED', 'RUN_LOCK_LOST'])

export interface SyncWorkerDeps {
  queues: SyncQueues
  db: Pick<Database, 'withTenant'>
  redis: Redis
  redisPrefix: string
  syncLogs: Pick<SyncLogRepository, 'update' | 'lockStatus'>
  deadLetters: DeadLetterRepository
  control: JobControl
  runner: SyncRunner
  pushRunner: PushRunner
  webhooks: WebhookProcessor
  metrics: SyncMetrics
  logger: FastifyBaseLogger
  /** Processors of other job kinds sharing these queues (reconciliation), registered by their plugins. */
  processors?: ExtraProcessors
}

/** A processor of a job kind the sync engine does not know; it handles its own bookkeeping. */
export type ExtraProcessor = (job: Bull.Job<JobData>, signal: RunSignal) => Promise<RunOutcome>
export type ExtraProcessors = Map<string, ExtraProcessor>

export interface SyncWorkerOptions {
  concurrency: Record<QueueKey, number>
  /** Queues this worker does not process (e.g. a worker dedicated to webhooks). */
  skip?: QueueKey[]
}

export interface SyncWorker {
  /** Stops taking jobs; running ones stop at their next page boundary and are handed back. */
  stop(): Promise<void>
}

const syncLogIdOf = (data: JobData): string | null => (data.kind === 'webhook' ? null : data.syncLogId || null)
const providerOf = (data: JobData): string => (data.kind === 'sync' ? data.provider : data.kind === 'push' ? (data.operation.split('.')[0] ?? 'unknown') : data.kind === 'reconcile' ? 'reconcile' : 'webhook')

export function startSyncWorker(deps: SyncWorkerDeps, options: SyncWorkerOptions): SyncWorker {
  const { db, metrics, logger, control } = deps
  let stopping = false
  const active = new Set<Promise<unknown>>()

  async function deadLetter(job: Bull.Job<JobData>, failure: SyncFailure): Promise<void> {
    const data = job.data
    await db.withTenant(data.tenantId, async (trx) => {
      if (job.id !== undefined && (await deps.deadLetters.existsForJob(trx, job.queue.name, String(job.id)))) return
      await deps.deadLetters.insert(trx, {
        tenantId: data.tenantId,
        queue: job.queue.name,
        jobName: job.name,
        jobId: job.id === undefined ? null : String(job.id),
        payload: data,
        errorCode: failure.code,
        errorMessage: failure.message,
        attempts: job.attemptsMade + 1,
      })
    })
  }

  async function markLog(data: JobData, status: 'queued' | 'failed', failure: SyncFailure): Promise<void> {
    const syncLogId = syncLogIdOf(data)
    if (!syncLogId) return
    await db.withTenant(data.tenantId, async (trx) => {
      // A run another worker already finished stays finished: a late failure of a superseded
      // attempt must not send it back to `queued` (and so into a second run).
      const current = await deps.syncLogs.lockStatus(trx, syncLogId)
      if (!current || !['queued', 'running'].includes(current)) return
      await deps.syncLogs.update(trx, syncLogId, { status, errorCode: failure.code, errorMessage: failure.message, ...(status === 'failed' ? { finishedAt: new Date() } : {}) })
    })
  }

  async function deferralsOf(job: Bull.Job<JobData>): Promise<number> {
    const key = `${deps.redisPrefix}sync:deferrals:${job.queue.name}:${String(job.id)}`
    const count = await deps.redis.incr(key)
    await deps.redis.expire(key, 7 * 24 * 3600)
    return count
  }

  /** Decides what the failure does to the job and its sync log; returns the metric outcome. */
  async function onFailure(job: Bull.Job<JobData>, failure: SyncFailure): Promise<string> {
    const data = job.data
    if (data.kind === 'webhook') await deps.webhooks.recordAttempt(data, failure.message)
    // The run belongs to another attempt now (Redis lost under a live worker, the run re-enqueued):
    // its log and job are that attempt's to report on.
    if (OWNERSHIP_LOST.has(failure.code)) {
      await keepAttempt(job).catch(() => undefined)
      return 'superseded'
    }
    let disposition = failure.disposition
    if (disposition === 'defer' && (await deferralsOf(job)) > MAX_FREE_DEFERRALS) disposition = 'retry'
    if (disposition === 'handback' || disposition === 'defer') {
      await keepAttempt(job)
      await markLog(data, 'queued', failure)
      return disposition === 'defer' ? 'deferred' : 'handed_back'
    }
    const final = disposition === 'stop' || job.attemptsMade + 1 >= (job.opts.attempts ?? 1)
    if (!final) {
      await markLog(data, 'queued', failure)
      return 'retried'
    }
    if (disposition === 'stop') job.discard()
    await markLog(data, 'failed', failure)
    if (failure.deadLetter) await deadLetter(job, failure)
    return 'failed'
  }

  async function handle(job: Bull.Job<JobData>): Promise<RunOutcome> {
    const started = performance.now()
    const data = job.data
    const signal = createRunSignal(control, String(job.id), () => stopping)
    let outcome = 'failed'
    try {
      let result: RunOutcome
      if (stopping) throw new SyncFailure('WORKER_STOPPING', 'The worker is shutting down.', { disposition: 'handback' })
      switch (data.kind) {
        case 'sync':
          result = await deps.runner.run(job as Bull.Job<SyncJobData>, signal)
          break
        case 'push':
          result = await deps.pushRunner.run(job as Bull.Job<PushJobData>, signal)
          break
        case 'webhook':
          result = await deps.webhooks.process(job as Bull.Job<WebhookJobData>, signal)
          break
        default: {
          const extra = deps.processors?.get(data.kind)
          if (extra) {
            result = await extra(job, signal)
            break
          }
          throw new SyncFailure('UNKNOWN_JOB_KIND', `No processor for jobs of kind ${String((data as { kind?: unknown }).kind)}.`, { disposition: 'stop' })
        }
      }
      outcome = result.status
      return result
    } catch (error) {
      const failure = toSyncFailure(error)
      const context = { jobId: job.id, queue: job.queue.name, kind: data.kind, code: failure.code }
      // Provider errors are logged by their scrubbed message only (an SDK error can carry the
      // request, credentials included); our own failures keep the error for debugging.
      if (failure.code === 'INTERNAL_ERROR') logger.error({ ...context, err: error }, 'sync job attempt failed')
      else if (failure.disposition === 'retry' || failure.disposition === 'stop') logger.warn({ ...context, reason: failure.message }, 'sync job attempt failed')
      else logger.info({ ...context, reason: failure.message }, 'sync job attempt postponed')
      try {
        outcome = await onFailure(job, failure)
      } catch (bookkeeping) {
        logger.error({ err: bookkeeping, jobId: job.id }, 'could not record a job failure')
      }
      throw failure
    } finally {
      annotateActiveSpan({ 'job.outcome': outcome })
      signal.dispose()
      metrics.job(job.queue.name, data.kind, outcome)
      metrics.runDuration(data.kind, providerOf(data), outcome, (performance.now() - started) / 1000)
    }
  }

  const processors = QUEUE_KEYS.filter((key) => !options.skip?.includes(key))
  for (const key of processors) {
    const queue = deps.queues.queues[key]
    void queue.process('*', options.concurrency[key], (job: Bull.Job<JobData>) => {
      // One span per attempt, continuing the trace of the request that enqueued the job.
      const attributes = {
        'messaging.system': 'bull',
        'messaging.operation.type': 'process',
        'messaging.destination.name': queue.name,
        'messaging.message.id': String(job.id),
        'job.kind': job.data.kind,
        'job.attempt': job.attemptsMade + 1,
        'job.max_attempts': job.opts.attempts ?? 1,
      }
      const running = inSpan(`${queue.name} process`, { kind: SpanKind.CONSUMER, parent: contextFromCarrier(job.data.trace), attributes }, () => handle(job))
      active.add(running)
      void running.finally(() => active.delete(running)).catch(() => undefined)
      return running
    })
    // A job whose worker died more often than allowed is failed by Bull without our processor:
    // it still gets its dead letter and a failed sync log.
    queue.on('failed', (job: Bull.Job<JobData>, error: Error) => {
      if (!STALLED_MESSAGE.test(error?.message ?? '')) return
      const failure = new SyncFailure('JOB_STALLED', "The job's worker stopped responding too many times.", { disposition: 'stop', deadLetter: true })
      void Promise.all([markLog(job.data, 'failed', failure), deadLetter(job, failure)]).catch((err: unknown) => logger.error({ err }, 'could not dead-letter a stalled job'))
    })
    queue.on('error', (error: Error) => logger.warn({ err: { message: error.message }, queue: queue.name }, 'queue error'))
  }

  logger.info({ queues: processors, concurrency: options.concurrency }, 'sync worker started')

  return {
    async stop() {
      if (stopping) return
      stopping = true
      // Running jobs see `stopping` between pages, checkpoint and hand their job back; a local
      // pause waits for them and takes no new job.
      await Promise.all(processors.map((key) => deps.queues.queues[key].pause(true).catch(() => undefined)))
      await Promise.allSettled([...active])
      logger.info('sync worker stopped')
    },
  }
}
