// Opening runs: the sync log rows and their jobs together (job id = sync log id), refused as a
// whole when a run of the same (connection, entity, kind) is active. Postgres is the truth: a run
// committed while Redis does not answer is still accepted, and the reconciler enqueues it.
import { BadRequestError, type SyncLog } from '@hub/contracts'
import type { AuditEvent } from '@hub/service-kit'
import { ConnectionNotActiveError } from '../connections/connection-context.ts'
import { isActiveRunConflict, type NewRun, type RunKind } from '../sync-logs/sync-log-repository.ts'
import { PUSH_OPERATIONS } from './push-runner.ts'
import { QueueTimeout, isRedisDown, queueUnavailable, withinQueueWait, type QueueAccess } from './queue-access.ts'
import { SyncAlreadyRunningError } from './sync-errors.ts'
import type { PushJobData, QueueName, SyncJobData } from './sync-queues.ts'
import { discardJobRecord, jobHealth } from './sync-reconciler.ts'
import { announceReceived } from '../webhooks/webhook-received.ts'
import type { AuditActor, EnqueuePushInput, EnqueueSyncInput, EnqueuedRun, SyncServiceDeps } from './sync-service.ts'

const STALE_UNENQUEUED_MS = 60_000

export function createRunEnqueue(deps: SyncServiceDeps, access: QueueAccess) {
  const { db, queues, runs, audit } = deps
  const { loadConnection, entitiesFor, queueConnected } = access

  async function jobLost(run: { queue: string; job_id: string | null; created_at?: Date }): Promise<boolean> {
    if (!run.job_id) return run.created_at !== undefined && Date.now() - run.created_at.getTime() > STALE_UNENQUEUED_MS
    const { health, job } = await jobHealth(queues, run.queue, run.job_id)
    if (health === 'live') return false
    // A partial record (written into an emptied Redis) would otherwise answer every later
    // request with SYNC_ALREADY_RUNNING: it goes with its run.
    if (health === 'partial' && job) await discardJobRecord(job.queue, run.job_id)
    return true
  }

  /**
   * An active run whose job no longer exists or is a partial record (Redis emptied, a crash
   * between commit and enqueue) would block its (connection, entity) forever: when a new run is
   * asked for, such runs are failed as JOB_LOST (the reconciler resumes the ones nobody asks for).
   */
  async function repairLostRuns(tenantId: string, connectionId: string, kind: RunKind, entities: string[]): Promise<boolean> {
    const active = await db.withTenant(tenantId, (trx) => runs.findActive(trx, connectionId, kind, entities))
    let repaired = false
    for (const run of active) {
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
          await runs.useIdsAsJobIds(
            trx,
            logs.map((log) => log.id),
          )
          if (auditEvent) await audit.record(trx, auditEvent(logs))
          return logs.map((log) => ({ ...log, jobId: log.id }))
        })
      } catch (error) {
        if (!isActiveRunConflict(error)) throw error
        // Whether the active run is still alive is Redis's to say: without it, refuse fast.
        if (attempt === 0 && !queueConnected()) throw queueUnavailable()
        if (
          attempt === 0 &&
          (await withinQueueWait(repairLostRuns(tenantId, connectionId, kind, entities)).catch((lookup: unknown) => {
            if (lookup instanceof QueueTimeout || isRedisDown(lookup)) throw queueUnavailable()
            throw lookup
          }))
        )
          continue
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

  async function enqueueWebhook(item: { tenantId: string; connectionId: string; inboxId: string }): Promise<string> {
    const jobId = `webhook-${item.inboxId}`
    await db.withTenant(item.tenantId, (trx) => announceReceived(trx, deps, [item.inboxId]))
    await queues.queues.critical.add('webhook', { kind: 'webhook', tenantId: item.tenantId, connectionId: item.connectionId, inboxId: item.inboxId }, { jobId })
    await db.withTenant(item.tenantId, (trx) => deps.inbox.markEnqueued(trx, item.inboxId))
    return jobId
  }

  /**
   * Many stored events at once: per tenant one transaction announcing them (their
   * `integration.webhook.received`), one bulk add to the queue, one update per tenant marking
   * them enqueued. Same job ids, so as idempotent as one by one.
   */
  async function enqueueWebhooks(items: Array<{ tenantId: string; connectionId: string; inboxId: string }>): Promise<void> {
    if (items.length === 0) return
    const byTenant = new Map<string, string[]>()
    for (const item of items) {
      const ids = byTenant.get(item.tenantId)
      if (ids) ids.push(item.inboxId)
      else byTenant.set(item.tenantId, [item.inboxId])
    }
    for (const [tenantId, ids] of byTenant) await db.withTenant(tenantId, (trx) => announceReceived(trx, deps, ids))
    await queues.queues.critical.addBulk(
      items.map((item) => ({ name: 'webhook', data: { kind: 'webhook' as const, tenantId: item.tenantId, connectionId: item.connectionId, inboxId: item.inboxId }, opts: { jobId: `webhook-${item.inboxId}` } })),
    )
    for (const [tenantId, ids] of byTenant) await db.withTenant(tenantId, (trx) => deps.inbox.markEnqueuedMany(trx, ids))
  }

  /** Stored events already announced and handed over once: their jobs again, under the same ids (Bull keeps a job it still holds). */
  async function requeueWebhooks(items: Array<{ tenantId: string; connectionId: string; inboxId: string }>): Promise<void> {
    if (items.length === 0) return
    await queues.queues.critical.addBulk(
      items.map((item) => ({ name: 'webhook', data: { kind: 'webhook' as const, tenantId: item.tenantId, connectionId: item.connectionId, inboxId: item.inboxId }, opts: { jobId: `webhook-${item.inboxId}` } })),
    )
  }

  return {
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
        input.actor
          ? (logs) => ({
              ...(input.actor as AuditActor),
              action: 'sync.triggered',
              entityType: 'connection',
              entityId: input.connectionId,
              after: { mode: input.mode, trigger: input.trigger, queue: queue.name, runs: logs.map((log) => ({ entity: log.entity, syncLogId: log.id })) },
            })
          : null,
      )
      await addDurably(
        logs.map((log) => log.id),
        () =>
          queue.addBulk(
            logs.map((log) => ({
              name: 'sync',
              data: {
                kind: 'sync',
                tenantId: input.tenantId,
                venueId: input.venueId,
                connectionId: input.connectionId,
                provider: connection.provider,
                entity: log.entity,
                mode: input.mode,
                trigger: input.trigger,
                syncLogId: log.id,
              } satisfies SyncJobData,
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
      const data: PushJobData = { kind: 'push', tenantId: input.tenantId, venueId: input.venueId, connectionId: input.connectionId, operation: input.operation, syncLogId: log.id }
      await addDurably([log.id], () => queue.add('push', data, { jobId: log.id }))
      return { entity: spec.entity, jobId: log.id, syncLogId: log.id, queue: queue.name as QueueName }
    },

    /** Queues processing of a stored webhook event; idempotent per inbox row. */
    enqueueWebhook,
    enqueueWebhooks,
    requeueWebhooks,
  }
}
