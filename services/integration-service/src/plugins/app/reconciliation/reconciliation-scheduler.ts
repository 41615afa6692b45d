// Reconciliation on the Bull queues: on-demand and escalated runs (integration-normal), each
// connection's daily full run in its hour in the venue's time zone (integration-normal) and its
// hourly quick check (integration-low) as repeatable jobs, each at the connection's own minute,
// and the processor of those jobs. The schedules live in Postgres (reconciliation_schedules); the
// repeatable jobs are derived from them and put back after Redis was lost (`restore`), as are the
// jobs of runs Postgres still holds as queued or running.
import type Bull from 'bull'
import type { FastifyBaseLogger } from 'fastify'
import type { Database } from '@hub/service-kit'
import type { EntityName } from '../../../providers/canonical.ts'
import type { ProviderRegistry } from '../../../providers/registry.ts'
import type { ConnectionRepository } from '../connections/connection-repository.ts'
import type { JobControl } from '../sync/job-control.ts'
import type { RunSignal } from '../sync/run-signal.ts'
import { offsetInHour, spreadCron, spreadDailyCronAtHour, spreadOffset } from '../sync/schedule-spread.ts'
import { toSyncFailure } from '../sync/sync-errors.ts'
import { QUEUES, type JobData, type QueueKey, type ReconcileJobData, type SyncQueues } from '../sync/sync-queues.ts'
import { discardJobRecord, jobHealth } from '../sync/sync-reconciler.ts'
import type { RunOutcome } from '../sync/sync-runner.ts'
import { SYSTEM_ACTOR, runLockName, type ReconciliationEngine } from './reconciliation-engine.ts'
import { isActiveRunConflict, type ReconciliationRunRepository, type RunMode, type RunRow } from './reconciliation-run-repository.ts'
import type { ReconciliationScheduleRepository, ScheduleRow } from './reconciliation-schedule-repository.ts'

const OWNERSHIP_LOST = new Set(['RUN_SUPERSEDED', 'RUN_LOCK_LOST'])

// Bull keys repeatable jobs by colon-separated fields: these ids carry no colon.
export const scheduleJobId = (connectionId: string, mode: RunMode): string => `recon-${connectionId}-${mode === 'full' ? 'daily' : 'quick'}`
export const runsJobId = (firstRunId: string): string => `recon-runs-${firstRunId}`
// At the connection's own minute and second (schedule-spread.ts), not all connections at :00;
// salted apart from its sync schedule so that its reconciliation does not start with its sync.
const spreadKey = (connectionId: string): string => `${connectionId}:reconcile`
export const dailyCron = (connectionId: string, hour: number): string => spreadDailyCronAtHour(spreadKey(connectionId), hour)
export const quickCheckCron = (connectionId: string): string => spreadCron(spreadKey(connectionId), 'hourly')

/** When a connection's daily run (HH:MM:SS in its time zone) and quick check (MM:SS past each hour) start: the crons' offsets. */
export function scheduleTimes(connectionId: string, hour: number): { dailyRunAt: string; quickCheckAt: string } {
  const mmss = (seconds: number) => `${String(Math.floor(seconds / 60)).padStart(2, '0')}:${String(seconds % 60).padStart(2, '0')}`
  return { dailyRunAt: `${String(hour).padStart(2, '0')}:${mmss(offsetInHour(spreadKey(connectionId)))}`, quickCheckAt: mmss(spreadOffset(spreadKey(connectionId), 'hourly')) }
}

/** What job.progress carries for a reconciliation job. */
export interface ReconcileProgress {
  runs: number
  finished: number
  current: { runId: string; entity: EntityName; pages: number; providerCount: number; mismatches: number } | null
}

export function createReconciliationScheduler(deps: {
  db: Pick<Database, 'withTenant' | 'withSystemScope'>
  queues: SyncQueues
  runs: ReconciliationRunRepository
  schedules: ReconciliationScheduleRepository
  connections: Pick<ConnectionRepository, 'findById'>
  providers: ProviderRegistry
  control: Pick<JobControl, 'lockRun'>
  logger: FastifyBaseLogger
}) {
  const { db, queues, runs, schedules } = deps

  /** One job for runs created together; its id comes from the first run, so a retry adds nothing. */
  async function enqueueRuns(data: Omit<ReconcileJobData, 'kind' | 'action' | 'runIds'>, runIds: string[], queue: QueueKey = 'normal'): Promise<string | null> {
    if (runIds.length === 0) return null
    const jobId = runsJobId(runIds[0] as string)
    await queues.queues[queue].add('reconcile', { kind: 'reconcile', action: 'runs', tenantId: data.tenantId, venueId: data.venueId, connectionId: data.connectionId, runIds } satisfies ReconcileJobData, { jobId })
    return jobId
  }

  async function removeRepeatable(queue: Bull.Queue<JobData>, jobId: string): Promise<void> {
    for (const repeatable of await queue.getRepeatableJobs()) if (repeatable.id === jobId) await queue.removeRepeatableByKey(repeatable.key)
  }

  /** Makes Bull's repeatable jobs of a connection what its schedule says. */
  async function apply(schedule: ScheduleRow): Promise<void> {
    const base = { kind: 'reconcile' as const, action: 'scheduled' as const, tenantId: schedule.tenant_id, venueId: schedule.venue_id, connectionId: schedule.connection_id }
    await removeRepeatable(queues.queues.normal, scheduleJobId(schedule.connection_id, 'full'))
    await removeRepeatable(queues.queues.low, scheduleJobId(schedule.connection_id, 'quick'))
    if (!schedule.enabled) return
    await queues.queues.normal.add('reconcile', { ...base, mode: 'full' } satisfies ReconcileJobData, {
      jobId: scheduleJobId(schedule.connection_id, 'full'),
      repeat: { cron: dailyCron(schedule.connection_id, schedule.daily_hour), tz: schedule.timezone },
    })
    if (schedule.quick_check)
      await queues.queues.low.add('reconcile', { ...base, mode: 'quick' } satisfies ReconcileJobData, { jobId: scheduleJobId(schedule.connection_id, 'quick'), repeat: { cron: quickCheckCron(schedule.connection_id), tz: 'UTC' } })
  }

  async function unschedule(connectionId: string): Promise<void> {
    await removeRepeatable(queues.queues.normal, scheduleJobId(connectionId, 'full'))
    await removeRepeatable(queues.queues.low, scheduleJobId(connectionId, 'quick'))
  }

  /** Whether a worker holds the run's lock: taken (and given back at once) only when nobody does. */
  async function lockHeld(run: RunRow): Promise<boolean> {
    try {
      const lock = await deps.control.lockRun(runLockName(run), 0)
      await lock.release()
      return false
    } catch (error) {
      if ((error as { code?: unknown }).code === 'RUN_LOCKED') return true
      throw error
    }
  }

  /**
   * Gives a queued or running run its job again unless Bull holds a live one for it (as the sync's
   * reconciler does for sync runs). Returns whether it did.
   */
  async function requeueRun(run: RunRow): Promise<boolean> {
    const queue: QueueKey = run.mode === 'quick' ? 'low' : 'normal'
    const jobId = runsJobId(run.id)
    // The job that took the run up last may be another: a scheduled tick's, or one job for runs requested together.
    if (run.job_id && run.job_id !== jobId && (await jobHealth(queues, QUEUES[queue], run.job_id)).health === 'live') return false
    const { health, job } = await jobHealth(queues, QUEUES[queue], jobId)
    if (health === 'live') return false
    // Redis lost the job under a live worker: it walks on until it finds its lock gone at its next
    // renewal, and a dead worker's lock lapses after its TTL; until then the run stays its.
    if (run.status === 'running' && (await lockHeld(run))) return false
    // Bull ignores an add whose id it still holds: a failed or completed job, or a partial record left in an emptied Redis.
    if (job) await discardJobRecord(queues.queues[queue], jobId)
    await enqueueRuns({ tenantId: run.tenant_id, venueId: run.venue_id, connectionId: run.connection_id }, [run.id], queue)
    return true
  }

  /**
   * Postgres is the truth: every schedule's repeatable jobs are put back, and running runs, or runs
   * still queued a minute after they were created (younger ones are being enqueued by their
   * request), get their job again when Bull has none live (a run resumes from its checkpoint; one
   * already finished is skipped by the processor).
   */
  async function restore(): Promise<{ schedules: number; runs: number }> {
    const all = await db.withSystemScope((trx) => schedules.listAll(trx))
    for (const schedule of all) await apply(schedule)
    const active = await db.withSystemScope((trx) => runs.listActive(trx, 60_000, 1_000))
    let requeued = 0
    for (const run of active) {
      try {
        if (await requeueRun(run)) requeued++
      } catch (err) {
        deps.logger.warn({ err, runId: run.id }, 'could not re-enqueue a reconciliation run')
      }
    }
    if (requeued > 0) deps.logger.info({ requeued }, 're-enqueued reconciliation runs whose job was lost or failed')
    return { schedules: all.length, runs: requeued }
  }

  /** A scheduled tick opens one run per entity of the connection, once per tick whatever the redeliveries. */
  async function openScheduledRuns(job: Bull.Job<JobData>, data: ReconcileJobData): Promise<{ runIds: string[]; schedule: ScheduleRow } | null> {
    const found = await db.withTenant(data.tenantId, async (trx) => ({ connection: await deps.connections.findById(trx, data.connectionId), schedule: await schedules.find(trx, data.connectionId) }))
    const { connection, schedule } = found
    if (!connection || connection.status !== 'active' || !schedule?.enabled) return null
    const mode: RunMode = data.mode ?? 'full'
    const runIds: string[] = []
    for (const entity of deps.providers[connection.provider].adapter.entities) {
      try {
        const run = await db.withTenant(data.tenantId, (trx) =>
          runs.insert(trx, { tenantId: data.tenantId, venueId: connection.venue_id, connectionId: connection.id, provider: connection.provider, entity, mode, trigger: 'scheduled', jobKey: `${String(job.id)}:${entity}` }),
        )
        runIds.push(run.id)
      } catch (error) {
        // A run of this entity is already queued or running: this tick leaves it to that run.
        if (!isActiveRunConflict(error)) throw error
      }
    }
    return { runIds, schedule }
  }

  function processor(engine: ReconciliationEngine) {
    return async (job: Bull.Job<JobData>, signal: RunSignal): Promise<RunOutcome> => {
      const data = job.data as ReconcileJobData
      let runIds = data.runIds ?? []
      let schedule: ScheduleRow | null
      if (data.action === 'scheduled') {
        const opened = await openScheduledRuns(job, data)
        if (!opened) return { status: 'skipped', syncLogId: null, reason: 'the connection is not active or its reconciliation schedule is off' }
        runIds = opened.runIds
        schedule = opened.schedule
      } else {
        schedule = await db.withTenant(data.tenantId, (trx) => schedules.find(trx, data.connectionId))
      }

      const finished: RunRow[] = []
      const progress = async (value: ReconcileProgress): Promise<void> => {
        await job.progress(value).catch(() => undefined)
      }
      for (const runId of runIds) {
        try {
          const row = await engine.run(data.tenantId, runId, {
            stopReason: signal.stopReason,
            refreshStop: signal.refresh,
            jobId: String(job.id),
            progress: (current) => progress({ runs: runIds.length, finished: finished.length, current }),
          })
          finished.push(row)
          await progress({ runs: runIds.length, finished: finished.length, current: null })
        } catch (error) {
          const failure = toSyncFailure(error)
          const final = failure.disposition === 'stop' || (failure.disposition === 'retry' && job.attemptsMade + 1 >= (job.opts.attempts ?? 1))
          if (final) await engine.fail(data.tenantId, runId, failure.code, failure.message)
          else if (!OWNERSHIP_LOST.has(failure.code)) await engine.requeue(data.tenantId, runId, failure.code, failure.message)
          // A run that cannot go on does not hold back the others of this job.
          if (failure.disposition === 'stop') continue
          throw error
        }
      }

      for (const row of finished) {
        if (row.escalated_run_id) await enqueueRuns({ tenantId: row.tenant_id, venueId: row.venue_id, connectionId: row.connection_id }, [row.escalated_run_id])
        if (schedule?.auto_repair && row.mode === 'full' && row.status === 'drift' && row.repaired_at === null) {
          try {
            await engine.repair(data.tenantId, row.id, SYSTEM_ACTOR(data.tenantId))
          } catch (error) {
            deps.logger.warn({ runId: row.id, code: (error as { code?: unknown }).code }, 'automatic repair of a reconciliation run failed; an admin can repair it')
          }
        }
      }
      return { status: 'succeeded', syncLogId: null }
    }
  }

  return { enqueueRuns, apply, unschedule, restore, processor }
}

export type ReconciliationScheduler = ReturnType<typeof createReconciliationScheduler>
