// What the API process does with the sync engine: enqueue runs (sync log row and job together),
// look at and cancel jobs, schedule connections, operate the queues, the dead-letter list and the
// circuit breakers. It only ever enqueues; processors run in the worker process.
import type Bull from 'bull'
import type { FastifyBaseLogger } from 'fastify'
import { BadRequestError, ConflictError, NotFoundError, ServiceUnavailableError, type SyncLog } from '@hub/contracts'
import { CursorField, encodeCursor, readCursor, type AuditActor, type AuditEvent, type AuditOutbox, type Database } from '@hub/service-kit'
import { Type } from '@sinclair/typebox'
import type { EntityName } from '../../../providers/canonical.ts'
import type { ProviderRegistry } from '../../../providers/registry.ts'
import { ConnectionNotActiveError } from '../connections/connection-context.ts'
import type { ConnectionRepository, ConnectionRow } from '../connections/connection-repository.ts'
import type { SyncLogRepository } from '../sync-log-repository.ts'
import type { CircuitBreakers, BreakerStatus } from './circuit-breaker.ts'
import { toDeadLetter, type DeadLetter, type DeadLetterRepository } from './dead-letter-repository.ts'
import type { JobControl } from './job-control.ts'
import { PUSH_OPERATIONS, type PushJob } from './push-runner.ts'
import { DeadLetterNotFoundError, JobNotFoundError, SyncAlreadyRunningError } from './sync-errors.ts'
import { QUEUES, QUEUE_KEYS, type JobData, type PushJobData, type QueueKey, type QueueName, type SyncJobData, type SyncQueues } from './sync-queues.ts'
import { isActiveRunConflict, type NewRun, type RunKind, type SyncRunRepository } from './sync-run-repository.ts'
import { jobHealth } from './sync-reconciler.ts'

/** Who asked, for the audit trail (what `auditActor(request.caller)` returns). */
export type { AuditActor }

export interface EnqueueSyncInput {
  tenantId: string
  venueId: string
  connectionId: string
  /** Default: every entity the provider offers. */
  entities?: EntityName[]
  mode: SyncJobData['mode']
  trigger: SyncJobData['trigger']
  /** Which queue: `high` for a user's request, `normal` for schedules, `low` for batch work. */
  queue: QueueKey
  actor?: AuditActor
}

export interface EnqueuedRun {
  entity: EntityName
  jobId: string
  syncLogId: string
  queue: QueueName
}

export interface EnqueuePushInput {
  tenantId: string
  venueId: string
  /** The destination connection (Mailchimp or QuickBooks). */
  connectionId: string
  operation: PushJobData['operation']
  /** Mailchimp audience; default: the audience of the connection's synced contacts. */
  listId?: string
  trigger?: SyncJobData['trigger']
  actor?: AuditActor
}

export type JobState = 'waiting' | 'active' | 'delayed' | 'completed' | 'failed' | 'paused' | 'stuck'

export interface JobView {
  id: string
  queue: QueueName
  name: string
  state: JobState
  /** Counts so far ({fetched, created, updated, unchanged, deleted, failed, pages, percent}). */
  progress: unknown
  /** Ids only. */
  data: JobData
  syncLogId: string | null
  attemptsMade: number
  failedReason: string | null
  /** What the run returned ({status, counts...}) once completed. */
  result: unknown
  createdAt: string | null
  processedAt: string | null
  finishedAt: string | null
}

export interface QueueCounts {
  queue: QueueName
  key: QueueKey
  paused: boolean
  waiting: number
  active: number
  delayed: number
  completed: number
  failed: number
}

export interface Schedule {
  connectionId: string
  entity: EntityName
  /** Interval in ms, or null for a cron schedule. */
  every: number | null
  cron: string | null
  next: string | null
}

const DeadLetterCursor = Type.Object({ failedAt: CursorField.timestamp(), id: CursorField.uuid() })

const iso = (millis: number | null | undefined): string | null => (millis ? new Date(millis).toISOString() : null)
const scheduleJobId = (connectionId: string, entity: string) => `schedule-${connectionId}-${entity}`
const STALE_UNENQUEUED_MS = 60_000
/** How long a request waits on Redis before it answers without it (Bull's own client would wait for Redis to return). */
const QUEUE_WAIT_MS = 500

class QueueTimeout extends Error {}
const isRedisDown = (error: unknown): boolean => /Connection is closed|ECONNREFUSED|Stream isn't writeable|MaxRetriesPerRequest|Command timed out/i.test((error as Error)?.message ?? '')

/** The promise, or a QueueTimeout after `ms`; the operation itself goes on (Bull adds are idempotent by job id). */
function withinQueueWait<T>(operation: Promise<T>, ms = QUEUE_WAIT_MS): Promise<T> {
  operation.catch(() => undefined)
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QueueTimeout('the queue did not answer in time')), ms)
  })
  return Promise.race([operation, timeout]).finally(() => clearTimeout(timer))
}

const queueUnavailable = () => new ServiceUnavailableError('QUEUE_UNAVAILABLE', 'The job queue is unavailable; retry shortly.')

function queueKeyOf(name: string): QueueKey {
  const key = QUEUE_KEYS.find((candidate) => QUEUES[candidate] === name || candidate === name)
  if (!key) throw new NotFoundError('QUEUE_NOT_FOUND', `No queue named ${name}.`)
  return key
}

/** Throws when the caller may not act on this venue's objects (see venue-access.ts). */
export type VenueCheck = (venueId: string) => void
const allowAnyVenue: VenueCheck = () => undefined

export function createSyncService(deps: {
  db: Pick<Database, 'withTenant'>
  queues: SyncQueues
  connections: Pick<ConnectionRepository, 'findById'>
  providers: ProviderRegistry
  runs: SyncRunRepository
  syncLogs: Pick<SyncLogRepository, 'update'>
  deadLetters: DeadLetterRepository
  control: Pick<JobControl, 'requestCancel'>
  breakers: CircuitBreakers
  audit: AuditOutbox
  logger: FastifyBaseLogger
}) {
  const { db, queues, runs, audit } = deps

  /** The venue a job works for: in its data, or (webhook jobs) its connection's. */
  async function venueOfJob(tenantId: string, data: JobData): Promise<string | null> {
    if (data.kind !== 'webhook') return data.venueId
    const connection = await db.withTenant(tenantId, (trx) => deps.connections.findById(trx, data.connectionId))
    return connection?.venue_id ?? null
  }

  async function loadConnection(tenantId: string, connectionId: string, venueId?: string): Promise<ConnectionRow> {
    const connection = await db.withTenant(tenantId, (trx) => deps.connections.findById(trx, connectionId))
    if (!connection || (venueId !== undefined && connection.venue_id !== venueId)) throw new NotFoundError('CONNECTION_NOT_FOUND', 'No connection with this id exists for this venue in your tenant.')
    return connection
  }

  function entitiesFor(connection: ConnectionRow, requested: EntityName[] | undefined): EntityName[] {
    const offered = deps.providers[connection.provider].adapter.entities
    const entities = requested && requested.length > 0 ? [...new Set(requested)] : [...offered]
    const unsupported = entities.filter((entity) => !offered.includes(entity))
    if (unsupported.length > 0) throw new BadRequestError('ENTITY_NOT_SUPPORTED', `${connection.provider} does not provide ${unsupported.join(', ')} records; it offers ${offered.join(', ')}.`)
    return entities
  }

  // Bull's clients wait for Redis to come back; a request does not: it asks only a connected one.
  const queueConnected = (): boolean => queues.queues.high.client.status === 'ready'

  async function findJob(jobId: string): Promise<Bull.Job<JobData> | null> {
    if (!queueConnected()) throw queueUnavailable()
    const lookup = async () => {
      for (const key of QUEUE_KEYS) {
        const job = await queues.queues[key].getJob(jobId)
        if (job) return job
      }
      return null
    }
    try {
      return await withinQueueWait(lookup())
    } catch (error) {
      deps.logger.warn({ err: { message: (error as Error).message }, jobId }, 'job lookup without the queue')
      throw queueUnavailable()
    }
  }

  async function jobLost(run: { queue: string; job_id: string | null; created_at?: Date }): Promise<boolean> {
    if (!run.job_id) return run.created_at !== undefined && Date.now() - run.created_at.getTime() > STALE_UNENQUEUED_MS
    const { health, job } = await jobHealth(queues, run.queue, run.job_id)
    if (health === 'live') return false
    // A partial record (written into an emptied Redis) would otherwise answer every later
    // request with SYNC_ALREADY_RUNNING: it goes with its run.
    if (health === 'partial' && job) {
      const key = job.queue.toKey(run.job_id)
      await job.queue.client.del(key, `${key}:logs`, `${key}:lock`)
    }
    return true
  }

  /**
   * An active run whose job no longer exists or is a partial record (Redis emptied, a crash
   * between commit and enqueue) would block its (connection, entity) forever: when a new run is
   * asked for, such runs are failed as JOB_LOST (the reconciler resumes the ones nobody asks for).
   */
  async function repairLostRuns(tenantId: string, connectionId: string, kind: RunKind, entities: string[]): Promise<boolean> {
    const active = await db.withTenant(tenantId, (trx) => trx('integration.sync_logs').select('id', 'queue', 'job_id', 'created_at').where({ connection_id: connectionId, kind }).whereIn('entity', entities).whereIn('status', ['queued', 'running']))
    let repaired = false
    for (const run of active as Array<{ id: string; queue: string; job_id: string | null; created_at: Date }>) {
      if (!(await jobLost(run))) continue
      await db.withTenant(tenantId, (trx) => deps.syncLogs.update(trx, run.id, { status: 'failed', finishedAt: new Date(), errorCode: 'JOB_LOST', errorMessage: 'The job of this run was lost before it finished.' }))
      repaired = true
    }
    return repaired
  }

  /** Inserts the runs (refused as a whole when any of them is already active), job id = log id. */
  async function openRuns(tenantId: string, connectionId: string, kind: RunKind, newRuns: NewRun[], auditEvent: ((logs: SyncLog[]) => AuditEvent) | null): Promise<SyncLog[]> {
    const entities = newRuns.map((run) => run.entity)
    for (let attempt = 0; ; attempt++) {
      try {
        return await db.withTenant(tenantId, async (trx) => {
          const logs = await runs.insertRuns(trx, newRuns)
          await trx('integration.sync_logs').whereIn('id', logs.map((log) => log.id)).update({ job_id: trx.raw('id::text') })
          if (auditEvent) await audit.record(trx, auditEvent(logs))
          return logs.map((log) => ({ ...log, jobId: log.id }))
        })
      } catch (error) {
        if (!isActiveRunConflict(error)) throw error
        // Whether the active run is still alive is Redis's to say: without it, refuse fast.
        if (attempt === 0 && !queueConnected()) throw queueUnavailable()
        if (attempt === 0 && (await withinQueueWait(repairLostRuns(tenantId, connectionId, kind, entities)).catch((lookup: unknown) => {
          if (lookup instanceof QueueTimeout || isRedisDown(lookup)) throw queueUnavailable()
          throw lookup
        }))) continue
        const active = await db.withTenant(tenantId, (trx) => runs.findActive(trx, connectionId, kind, entities))
        throw new SyncAlreadyRunningError(active.length > 0 ? [...new Set(active.map((run) => run.entity))] : entities)
      }
    }
  }

  /**
   * Adds the jobs of runs already committed in Postgres. When Redis does not answer within a
   * second the request is still accepted: the runs stay `queued` in Postgres (the truth) and the
   * add completes when Redis returns, or the worker's reconciler enqueues them — the 202 stays true.
   */
  async function addDurably(logIds: string[], add: () => Promise<unknown>): Promise<void> {
    if (!queueConnected()) {
      deps.logger.warn({ syncLogIds: logIds }, 'queue disconnected: runs accepted in Postgres, the reconciler enqueues them')
      return
    }
    try {
      await withinQueueWait(add())
    } catch (error) {
      deps.logger.warn({ err: { message: (error as Error).message }, syncLogIds: logIds }, 'queue unavailable: runs accepted in Postgres, the reconciler enqueues them')
    }
  }

  async function viewOf(job: Bull.Job<JobData>): Promise<JobView> {
    const state = (await job.getState()) as JobState
    return {
      id: String(job.id),
      queue: job.queue.name as QueueName,
      name: job.name,
      state,
      progress: job.progress(),
      data: job.data,
      syncLogId: job.data.kind === 'webhook' ? null : job.data.syncLogId || null,
      attemptsMade: job.attemptsMade,
      failedReason: job.failedReason ?? null,
      result: job.returnvalue ?? null,
      createdAt: iso(job.timestamp),
      processedAt: iso(job.processedOn),
      finishedAt: iso(job.finishedOn),
    }
  }

  async function enqueueWebhook(item: { tenantId: string; connectionId: string; inboxId: string }): Promise<string> {
    const jobId = `webhook-${item.inboxId}`
    await queues.queues.critical.add('webhook', { kind: 'webhook', tenantId: item.tenantId, connectionId: item.connectionId, inboxId: item.inboxId }, { jobId })
    await db.withTenant(item.tenantId, (trx) => trx('integration.webhook_inbox').where({ id: item.inboxId }).whereNull('enqueued_at').update({ enqueued_at: trx.fn.now() }))
    return jobId
  }

  async function unscheduleConnection(tenantId: string, connectionId: string, entities?: EntityName[]): Promise<number> {
    await loadConnection(tenantId, connectionId)
    const queue = queues.queues.normal
    const ids = entities ? new Set(entities.map((entity) => scheduleJobId(connectionId, entity))) : null
    let removed = 0
    for (const repeatable of await queue.getRepeatableJobs()) {
      const id = repeatable.id ?? ''
      if (ids ? !ids.has(id) : !id.startsWith(`schedule-${connectionId}-`)) continue
      await queue.removeRepeatableByKey(repeatable.key)
      removed++
    }
    return removed
  }

  async function listSchedules(tenantId: string, connectionId: string): Promise<Schedule[]> {
    await loadConnection(tenantId, connectionId)
    const prefix = `schedule-${connectionId}-`
    return (await queues.queues.normal.getRepeatableJobs())
      .filter((repeatable) => (repeatable.id ?? '').startsWith(prefix))
      .map((repeatable) => ({
        connectionId,
        entity: (repeatable.id ?? '').slice(prefix.length) as EntityName,
        every: repeatable.every || null,
        cron: repeatable.cron || null,
        next: iso(repeatable.next),
      }))
  }

  async function adminAudit(actor: AuditActor | undefined, action: string, entityType: string, entityId: string, after?: unknown): Promise<void> {
    if (!actor) return
    await db.withTenant(actor.tenantId, (trx) => audit.record(trx, { ...actor, action, entityType, entityId, ...(after === undefined ? {} : { after }) }))
  }

  return {
    /** Bull queue objects (for bull-board and operators). */
    queues: queues.queues,

    /** Opens one run per entity (sync log `queued` + job, job id = sync log id). */
    async enqueueSync(input: EnqueueSyncInput): Promise<{ jobs: EnqueuedRun[] }> {
      const connection = await loadConnection(input.tenantId, input.connectionId, input.venueId)
      if (connection.status !== 'active') throw new ConnectionNotActiveError(connection.status)
      const entities = entitiesFor(connection, input.entities)
      const queue = queues.queues[input.queue]
      const logs = await openRuns(
        input.tenantId,
        input.connectionId,
        'pull',
        entities.map((entity) => ({ tenantId: input.tenantId, venueId: input.venueId, connectionId: input.connectionId, provider: connection.provider, entity, mode: input.mode, trigger: input.trigger, queue: queue.name, kind: 'pull' })),
        input.actor ? (logs) => ({ ...(input.actor as AuditActor), action: 'sync.triggered', entityType: 'connection', entityId: input.connectionId, after: { mode: input.mode, trigger: input.trigger, queue: queue.name, runs: logs.map((log) => ({ entity: log.entity, syncLogId: log.id })) } }) : null,
      )
      await addDurably(
        logs.map((log) => log.id),
        () =>
          queue.addBulk(
            logs.map((log) => ({
              name: 'sync',
              data: { kind: 'sync', tenantId: input.tenantId, venueId: input.venueId, connectionId: input.connectionId, provider: connection.provider, entity: log.entity, mode: input.mode, trigger: input.trigger, syncLogId: log.id } satisfies SyncJobData,
              opts: { jobId: log.id },
            })),
          ),
      )
      return { jobs: logs.map((log) => ({ entity: log.entity, jobId: log.id, syncLogId: log.id, queue: queue.name as QueueName })) }
    },

    /** A push of the venue's records to a destination connection, on the low queue. */
    async enqueuePush(input: EnqueuePushInput): Promise<EnqueuedRun> {
      const spec = PUSH_OPERATIONS[input.operation]
      const connection = await loadConnection(input.tenantId, input.connectionId, input.venueId)
      if (connection.provider !== spec.provider) throw new BadRequestError('PUSH_TARGET_MISMATCH', `${input.operation} needs a ${spec.provider} connection.`)
      if (connection.status !== 'active') throw new ConnectionNotActiveError(connection.status)
      const queue = queues.queues.low
      const trigger = input.trigger ?? 'batch'
      const [log] = await openRuns(
        input.tenantId,
        input.connectionId,
        'push',
        [{ tenantId: input.tenantId, venueId: input.venueId, connectionId: input.connectionId, provider: connection.provider, entity: spec.entity, mode: 'incremental', trigger, queue: queue.name, kind: 'push' }],
        input.actor ? (logs) => ({ ...(input.actor as AuditActor), action: 'sync.push_triggered', entityType: 'connection', entityId: input.connectionId, after: { operation: input.operation, syncLogId: logs[0]?.id } }) : null,
      )
      if (!log) throw new Error('no sync log was created')
      const data: PushJob = { kind: 'push', tenantId: input.tenantId, venueId: input.venueId, connectionId: input.connectionId, operation: input.operation, syncLogId: log.id, ...(input.listId ? { listId: input.listId } : {}) }
      await addDurably([log.id], () => queue.add('push', data, { jobId: log.id }))
      return { entity: spec.entity, jobId: log.id, syncLogId: log.id, queue: queue.name as QueueName }
    },

    /** Queues processing of a stored webhook event; idempotent per inbox row. */
    enqueueWebhook,

    /** A job of the caller's tenant (404 otherwise); falls back to its sync log once Bull forgot it. */
    /**
     * `checkVenue` applies the caller's venue access to the job's venue (throwing 404 or 403);
     * the tenant alone is not enough, a manager of one venue must not see another's jobs.
     */
    async getJob(tenantId: string, jobId: string, checkVenue: VenueCheck = allowAnyVenue): Promise<JobView> {
      // Without Redis the run's sync log still answers.
      const job = await findJob(jobId).catch(() => null)
      if (job && job.data.tenantId === tenantId) {
        const venueId = await venueOfJob(tenantId, job.data)
        if (venueId === null) throw new JobNotFoundError()
        checkVenue(venueId)
        return viewOf(job)
      }
      if (job) throw new JobNotFoundError()
      const log = await db.withTenant(tenantId, (trx) => runs.findByJobId(trx, jobId))
      if (!log) throw new JobNotFoundError()
      checkVenue(log.venueId)
      const state: JobState = log.status === 'failed' ? 'failed' : log.status === 'queued' ? 'waiting' : log.status === 'running' ? 'active' : 'completed'
      return {
        id: jobId,
        queue: log.queue as QueueName,
        name: 'sync',
        state,
        progress: log.counts,
        data: { kind: 'sync', tenantId, venueId: log.venueId, connectionId: log.connectionId, provider: log.provider, entity: log.entity, mode: log.mode, trigger: log.trigger, syncLogId: log.id },
        syncLogId: log.id,
        attemptsMade: 0,
        failedReason: log.errorMessage,
        result: { status: log.status, counts: log.counts },
        createdAt: log.createdAt,
        processedAt: log.startedAt,
        finishedAt: log.finishedAt,
      }
    },

    /**
     * Cancels a job: a waiting or delayed one is removed; a running one is asked to stop at its
     * next page (its log turns `cancelled`, what it wrote and its checkpoint stay).
     */
    async cancelJob(tenantId: string, jobId: string, actor?: AuditActor, checkVenue: VenueCheck = allowAnyVenue): Promise<{ jobId: string; state: 'cancelled' | 'cancelling' }> {
      const job = await findJob(jobId)
      if (!job || job.data.tenantId !== tenantId) throw new JobNotFoundError()
      const venueId = await venueOfJob(tenantId, job.data)
      if (venueId === null) throw new JobNotFoundError()
      checkVenue(venueId)
      const state = await job.getState()
      if (state === 'completed' || state === 'failed') throw new ConflictError('JOB_FINISHED', `The job already ${state === 'completed' ? 'completed' : 'failed'}.`)
      const syncLogId = job.data.kind === 'webhook' ? null : job.data.syncLogId || null
      // Bull adds a schedule's next run when the current one starts: removing the waiting one
      // would end the schedule, which is what unscheduling is for.
      if (state !== 'active' && job.opts.repeat) throw new ConflictError('JOB_NOT_CANCELLABLE', 'This is the next run of a schedule; unschedule the connection to stop it.')
      if (state !== 'active') {
        const removed = await job.remove().then(
          () => true,
          () => false,
        )
        if (removed) {
          await db.withTenant(tenantId, async (trx) => {
            if (syncLogId) await deps.syncLogs.update(trx, syncLogId, { status: 'cancelled', finishedAt: new Date() })
            if (actor) await audit.record(trx, { ...actor, action: 'sync.job_cancelled', entityType: 'sync_job', entityId: jobId, after: { state: 'cancelled', syncLogId } })
          })
          return { jobId, state: 'cancelled' }
        }
        // It started meanwhile: cancel it as a running job.
      }
      if (job.data.kind === 'webhook') throw new ConflictError('JOB_NOT_CANCELLABLE', 'A running webhook job processes one record and cannot be cancelled.')
      await deps.control.requestCancel(jobId)
      await adminAudit(actor, 'sync.job_cancel_requested', 'sync_job', jobId, { state: 'cancelling', syncLogId })
      return { jobId, state: 'cancelling' }
    },

    async queueCounts(): Promise<QueueCounts[]> {
      return Promise.all(
        QUEUE_KEYS.map(async (key) => {
          const queue = queues.queues[key]
          const [counts, paused] = await Promise.all([queue.getJobCounts(), queue.isPaused()])
          // Jobs of a paused queue sit in Bull's `paused` list: to an operator they are waiting.
          const waiting = counts.waiting + ((counts as { paused?: number }).paused ?? 0)
          return { queue: queue.name as QueueName, key, paused, waiting, active: counts.active, delayed: counts.delayed, completed: counts.completed, failed: counts.failed }
        }),
      )
    },

    /** Pauses a queue for every worker (jobs wait; running ones finish). Name or key. */
    async pauseQueue(name: string, actor?: AuditActor): Promise<void> {
      const key = queueKeyOf(name)
      await queues.queues[key].pause()
      await adminAudit(actor, 'sync.queue_paused', 'queue', QUEUES[key])
    },

    async resumeQueue(name: string, actor?: AuditActor): Promise<void> {
      const key = queueKeyOf(name)
      await queues.queues[key].resume()
      await adminAudit(actor, 'sync.queue_resumed', 'queue', QUEUES[key])
    },

    /** Open dead letters of the tenant, newest first; `cursor` from the previous page. */
    async listDeadLetters(tenantId: string, cursor?: string | null, limit = 50): Promise<{ items: DeadLetter[]; nextCursor: string | null }> {
      const after = cursor ? readCursor(cursor, DeadLetterCursor) : undefined
      const rows = await db.withTenant(tenantId, (trx) => deps.deadLetters.list(trx, { ...(after ? { after } : {}), limit: limit + 1 }))
      const page = rows.slice(0, limit)
      const last = page[page.length - 1]
      return { items: page.map(toDeadLetter), nextCursor: rows.length > limit && last ? encodeCursor({ failedAt: last.failed_at_cursor ?? last.failed_at.toISOString(), id: last.id }) : null }
    },

    /** Re-enqueues a dead-lettered job (same sync log row, resuming from its checkpoint). */
    async retryDeadLetter(tenantId: string, id: string, actor?: AuditActor): Promise<{ deadLetterId: string; jobId: string; queue: QueueName }> {
      const stamp = Date.now()
      const planned = await db.withTenant(tenantId, async (trx) => {
        const letter = await deps.deadLetters.findOpenForUpdate(trx, id)
        if (!letter) throw new DeadLetterNotFoundError()
        const payload = letter.payload
        const syncLogId = payload.kind === 'webhook' ? null : payload.syncLogId || null
        const jobId = payload.kind === 'webhook' ? `webhook-${payload.inboxId}-retry-${stamp}` : `${syncLogId ?? 'run'}-retry-${stamp}`
        if (syncLogId) {
          try {
            await runs.requeue(trx, syncLogId, jobId)
          } catch (error) {
            if (isActiveRunConflict(error)) throw new SyncAlreadyRunningError([payload.kind === 'sync' ? payload.entity : 'push'])
            throw error
          }
        }
        await deps.deadLetters.mark(trx, id, 'retried_at', new Date())
        if (actor) await audit.record(trx, { ...actor, action: 'sync.dead_letter_retried', entityType: 'dead_letter', entityId: id, after: { jobId, queue: letter.queue } })
        return { letter, jobId, syncLogId }
      })
      const queue = queues.byName(planned.letter.queue) ?? queues.queues.normal
      try {
        await queue.add(planned.letter.job_name, planned.letter.payload, { jobId: planned.jobId })
      } catch (error) {
        await db
          .withTenant(tenantId, async (trx) => {
            await deps.deadLetters.mark(trx, id, 'retried_at', null)
            if (planned.syncLogId) await deps.syncLogs.update(trx, planned.syncLogId, { status: 'failed', finishedAt: new Date(), errorCode: 'ENQUEUE_FAILED', errorMessage: 'The retry could not be queued.' })
          })
          .catch(() => undefined)
        deps.logger.error({ err: error, deadLetterId: id }, 'could not re-enqueue a dead letter')
        throw new ServiceUnavailableError('QUEUE_UNAVAILABLE', 'The job queue is unavailable; retry shortly.')
      }
      return { deadLetterId: id, jobId: planned.jobId, queue: queue.name as QueueName }
    },

    async discardDeadLetter(tenantId: string, id: string, actor?: AuditActor): Promise<DeadLetter> {
      return db.withTenant(tenantId, async (trx) => {
        const letter = await deps.deadLetters.findOpenForUpdate(trx, id)
        if (!letter) throw new DeadLetterNotFoundError()
        const row = await deps.deadLetters.mark(trx, id, 'discarded_at', new Date())
        if (actor) await audit.record(trx, { ...actor, action: 'sync.dead_letter_discarded', entityType: 'dead_letter', entityId: id, before: { errorCode: letter.error_code } })
        return toDeadLetter(row)
      })
    },

    /** Circuit breakers that are open, half-open or counting failures (of one tenant if given). */
    breakerStates(tenantId?: string): Promise<BreakerStatus[]> {
      return deps.breakers.states(tenantId ? { tenantId } : {})
    },

    /** Closes a connection's breaker; with an actor, only a breaker of the actor's tenant (404 otherwise). */
    async resetBreaker(connectionId: string, actor?: AuditActor): Promise<{ connectionId: string; reset: boolean }> {
      if (actor) {
        const current = await deps.breakers.state(connectionId)
        if (current.tenantId !== null && current.tenantId !== actor.tenantId) throw new NotFoundError('BREAKER_NOT_FOUND', 'No circuit breaker for this connection in your tenant.')
      }
      const reset = await deps.breakers.reset(connectionId)
      await adminAudit(actor, 'sync.breaker_reset', 'connection', connectionId, { reset })
      return { connectionId, reset }
    },

    /**
     * Schedules incremental syncs of the connection on the normal queue: `every` is an interval
     * in milliseconds (at least 1 s) or a cron expression. Replaces the entities' previous schedule.
     */
    async scheduleConnection(tenantId: string, connectionId: string, entities: EntityName[] | undefined, every: number | string): Promise<Schedule[]> {
      const connection = await loadConnection(tenantId, connectionId)
      if (connection.status === 'disconnected') throw new ConnectionNotActiveError(connection.status)
      const chosen = entitiesFor(connection, entities)
      if (typeof every === 'number' && (!Number.isInteger(every) || every < 1_000)) throw new BadRequestError('INVALID_SCHEDULE', 'An interval schedule is a whole number of milliseconds, at least 1000.')
      if (typeof every === 'string' && !/^\s*(\S+\s+){4,5}\S+\s*$/.test(every)) throw new BadRequestError('INVALID_SCHEDULE', 'A cron schedule has five or six fields.')
      await unscheduleConnection(tenantId, connectionId, chosen)
      for (const entity of chosen) {
        const data: SyncJobData = { kind: 'sync', tenantId, venueId: connection.venue_id, connectionId, provider: connection.provider, entity, mode: 'incremental', trigger: 'scheduled', syncLogId: '' }
        try {
          await queues.queues.normal.add('sync', data, { jobId: scheduleJobId(connectionId, entity), repeat: typeof every === 'number' ? { every } : { cron: every.trim() } })
        } catch (error) {
          if (typeof every === 'string') throw new BadRequestError('INVALID_SCHEDULE', `The cron expression does not parse: ${(error as Error).message}`)
          throw error
        }
      }
      return listSchedules(tenantId, connectionId)
    },

    /** Removes the connection's schedules (of the given entities, or all); returns how many. */
    unscheduleConnection,

    listSchedules,
  }
}

export type SyncService = ReturnType<typeof createSyncService>
