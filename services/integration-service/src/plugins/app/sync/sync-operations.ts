// What operators do with the engine: queue counts, pause and resume (shared by every tenant), the
// tenant's dead-letter list (retry, discard), and the circuit breakers. Each action is audited.
import { NotFoundError, ServiceUnavailableError } from '@hub/contracts'
import { CursorField, page, readCursor } from '@hub/service-kit'
import { Type } from '@sinclair/typebox'
import { isActiveRunConflict } from '../sync-logs/sync-log-repository.ts'
import type { BreakerStatus } from './circuit-breaker.ts'
import { toDeadLetter, type DeadLetter } from './dead-letter-repository.ts'
import { queueKeyOf } from './queue-access.ts'
import { DeadLetterNotFoundError, SyncAlreadyRunningError } from './sync-errors.ts'
import { QUEUES, QUEUE_KEYS, type QueueName } from './sync-queues.ts'
import type { AuditActor, QueueCounts, SyncServiceDeps } from './sync-service.ts'

const DeadLetterCursor = Type.Object({ failedAt: CursorField.timestamp(), id: CursorField.uuid() })

export function createSyncOperations(deps: SyncServiceDeps) {
  const { db, queues, runs, audit } = deps

  async function adminAudit(actor: AuditActor | undefined, action: string, entityType: string, entityId: string, after?: unknown): Promise<void> {
    if (!actor) return
    await db.withTenant(actor.tenantId, (trx) => audit.record(trx, { ...actor, action, entityType, entityId, ...(after === undefined ? {} : { after }) }))
  }

  return {
    adminAudit,

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
      const { rows, nextCursor } = await page(
        limit,
        (take) => db.withTenant(tenantId, (trx) => deps.deadLetters.list(trx, { ...(after ? { after } : {}), limit: take })),
        (last) => ({ failedAt: last.failed_at_cursor ?? last.failed_at.toISOString(), id: last.id }),
      )
      return { items: rows.map(toDeadLetter), nextCursor }
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
  }
}

export type SyncOperations = ReturnType<typeof createSyncOperations>
