// Jobs as callers see them: a job of the caller's tenant and venue (its sync log once Bull forgot
// it), and cancelling one (removed while waiting, asked to stop at its next page while running).
import type Bull from 'bull'
import { ConflictError } from '@hub/contracts'
import type { QueueAccess } from './queue-access.ts'
import { JobNotFoundError } from './sync-errors.ts'
import type { JobData, QueueName } from './sync-queues.ts'
import type { AuditActor, JobState, JobView, SyncServiceDeps, VenueCheck } from './sync-service.ts'
import type { SyncOperations } from './sync-operations.ts'
import { jobState } from './sync-reconciler.ts'

const iso = (millis: number | null | undefined): string | null => (millis ? new Date(millis).toISOString() : null)
const allowAnyVenue: VenueCheck = () => undefined

export function createJobViews(deps: SyncServiceDeps, access: QueueAccess, operations: Pick<SyncOperations, 'adminAudit'>) {
  const { db, runs, audit } = deps
  const { venueOfJob, findJob } = access
  const { adminAudit } = operations

  // The state is read in one script (jobState), not with Bull's getState, which asks the lists one
  // after another and can report a job moving from waiting to active as in none (`stuck`).
  function viewOf(job: Bull.Job<JobData>, state: JobState): JobView {
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

  return {
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
        const state = await jobState(job.queue, String(job.id))
        // Removed since it was read (a finished job past its retention): its sync log answers.
        if (state !== 'gone') return viewOf(job, state)
      } else if (job) throw new JobNotFoundError()
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
      const state = await jobState(job.queue, String(job.id))
      if (state === 'gone') throw new JobNotFoundError()
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
  }
}
