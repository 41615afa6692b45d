// Postgres is the truth, Redis can be rebuilt: puts Bull back in line with the runs and schedules
// Postgres holds. A run that Postgres says is queued or running but whose job is gone (Redis
// emptied, failed over, evicted) or is a partial record (a worker that kept writing progress into
// an emptied Redis) is re-enqueued under its own job id and resumes from its checkpoint; the
// schedules of active connections are upserted from their settings. The worker runs it at start
// and every SYNC_RECONCILE_INTERVAL_MS.
import type Bull from 'bull'
import type { FastifyBaseLogger } from 'fastify'
import type { Database } from '@hub/service-kit'
import type { EntityName, ProviderName } from '../../../providers/canonical.ts'
import type { ProviderRegistry } from '../../../providers/registry.ts'
import type { ConnectionRepository } from '../connections/connection-repository.ts'
import type { SyncLogRepository } from '../sync-logs/sync-log-repository.ts'
import { PUSH_OPERATIONS } from './push-runner.ts'
import type { JobData, PushJobData, SyncJobData, SyncQueues } from './sync-queues.ts'
import type { JobState } from './sync-service.ts'

export interface LostRunRow {
  id: string
  tenant_id: string
  venue_id: string
  connection_id: string
  provider: ProviderName
  entity: EntityName
  mode: SyncJobData['mode']
  trigger: SyncJobData['trigger']
  queue: string
  kind: 'pull' | 'push' | 'webhook'
  job_id: string | null
}

export type JobHealth = 'live' | 'missing' | 'partial' | 'finished'

/** A job record without the fields Bull writes when it adds a job: what an emptied Redis leaves behind. */
export const isPartialJob = (job: Bull.Job<JobData>): boolean => !job.name || !Number.isFinite(job.timestamp) || typeof (job.data as { kind?: unknown } | undefined)?.kind !== 'string'

/**
 * Which of Bull's lists holds the job, in one script. Bull moves a job from list to list in one
 * atomic step, so at any instant it is in exactly one of them, and only a record in none is
 * stranded. Bull's own `getState` asks the lists one after another, and a job moving between two
 * (waiting to active, active to completed) can be missed by both: a live job read as `stuck`,
 * whose keys the caller would then delete.
 */
const JOB_STATE = `
if redis.call('exists', KEYS[7]) == 0 then return 'gone' end
if redis.call('zscore', KEYS[1], ARGV[1]) then return 'completed' end
if redis.call('zscore', KEYS[2], ARGV[1]) then return 'failed' end
if redis.call('zscore', KEYS[3], ARGV[1]) then return 'delayed' end
if redis.call('lpos', KEYS[4], ARGV[1]) then return 'active' end
if redis.call('lpos', KEYS[5], ARGV[1]) then return 'waiting' end
if redis.call('lpos', KEYS[6], ARGV[1]) then return 'paused' end
return 'stuck'`

/** The job's state as Bull names it (`waiting` for its `wait` list), `stuck` when in no list, `gone` when its record no longer exists. */
export async function jobState(queue: Bull.Queue<JobData>, jobId: string): Promise<JobState | 'gone'> {
  const keys = [...['completed', 'failed', 'delayed', 'active', 'wait', 'paused'].map((list) => queue.toKey(list)), queue.toKey(jobId)]
  return String(await queue.client.eval(JOB_STATE, keys.length, ...keys, jobId)) as JobState | 'gone'
}

/** How the Bull job of a run stands. `finished` jobs of an active run lost their run's ending. */
export async function jobHealth(queues: SyncQueues, queueName: string, jobId: string): Promise<{ health: JobHealth; job: Bull.Job<JobData> | null }> {
  const queue = queues.byName(queueName)
  if (!queue) return { health: 'missing', job: null }
  const job = await queue.getJob(jobId)
  if (!job) return { health: 'missing', job: null }
  if (isPartialJob(job)) return { health: 'partial', job }
  const state = await jobState(queue, jobId)
  // Removed since it was read (a finished job past its retention): nothing of it is left to repair.
  if (state === 'gone') return { health: 'missing', job: null }
  if (state === 'completed' || state === 'failed') return { health: 'finished', job }
  // In none of Bull's lists: nothing will ever pick it up.
  if (state === 'stuck') return { health: 'partial', job }
  return { health: 'live', job }
}

/**
 * Deletes what Bull keeps of a job that `jobHealth` found not live (a partial record or a finished
 * job), so an add under its id is taken: Bull ignores an add whose id it holds. A partial record is
 * in no list and holds no lock of a live worker, so its keys go directly; a finished job's id
 * leaves the finished sets too, since Bull reads a job's state from them first and a job added
 * again under an id left there would read as finished (and the next pass would replace it, lock
 * and all, while it runs). Never for a live job: its worker's lock goes with it.
 */
export async function discardJobRecord(queue: Bull.Queue<JobData>, jobId: string): Promise<void> {
  const key = queue.toKey(jobId)
  await queue.client.multi().del(key, `${key}:logs`, `${key}:lock`).zrem(queue.toKey('completed'), jobId).zrem(queue.toKey('failed'), jobId).exec()
}

/** Which data a run's job carries, rebuilt from its sync log row (jobs carry ids only). */
export function jobDataOf(run: LostRunRow): JobData | null {
  if (run.kind === 'pull') {
    return { kind: 'sync', tenantId: run.tenant_id, venueId: run.venue_id, connectionId: run.connection_id, provider: run.provider, entity: run.entity, mode: run.mode, trigger: run.trigger, syncLogId: run.id } satisfies SyncJobData
  }
  if (run.kind === 'push') {
    const operation = (Object.keys(PUSH_OPERATIONS) as Array<PushJobData['operation']>).find((name) => PUSH_OPERATIONS[name].provider === run.provider && PUSH_OPERATIONS[name].entity === run.entity)
    return operation ? ({ kind: 'push', tenantId: run.tenant_id, venueId: run.venue_id, connectionId: run.connection_id, operation, syncLogId: run.id } satisfies PushJobData) : null
  }
  return null
}

/**
 * Puts the job of an active run back: a partial or finished record under its id is removed first
 * (Bull ignores an add whose id exists), then the job is added under the same id so the runner
 * finds the run's sync log and its checkpoint. Returns false when the job is live after all.
 */
export async function requeueRun(queues: SyncQueues, run: LostRunRow): Promise<boolean> {
  const jobId = run.job_id ?? run.id
  const { health, job } = await jobHealth(queues, run.queue, jobId)
  if (health === 'live') return false
  const queue = queues.byName(run.queue) ?? queues.queues.high
  if (job) await discardJobRecord(queue, jobId)
  const data = jobDataOf(run)
  if (!data) return false
  await queue.add(data.kind === 'push' ? 'push' : 'sync', data, { jobId })
  return true
}

export interface SyncReconcilerDeps {
  db: Pick<Database, 'withSystemScope'>
  syncLogs: Pick<SyncLogRepository, 'listUnfinishedRuns'>
  connections: Pick<ConnectionRepository, 'listActive'>
  queues: SyncQueues
  providers: ProviderRegistry
  logger: FastifyBaseLogger
  /** The cron a connection should be scheduled by from its settings; null: not scheduled. */
  scheduleFor: (tenantId: string, connection: { id: string; venue_id: string; provider: ProviderName }) => Promise<string | null>
  schedule: (tenantId: string, connectionId: string, cron: string) => Promise<unknown>
  unschedule: (tenantId: string, connectionId: string) => Promise<unknown>
  /** Runs younger than this are being enqueued right now by the API process; left alone. */
  minRunAgeMs?: number
}

export interface ReconcileReport {
  requeued: number
  schedulesUpserted: number
  schedulesRemoved: number
}

const SCHEDULE_ID = /^schedule-([0-9a-f-]{36})-(.+)$/

export function createSyncReconciler(deps: SyncReconcilerDeps) {
  const { db, queues, logger } = deps

  async function reconcileRuns(): Promise<number> {
    const minAge = deps.minRunAgeMs ?? 2_000
    const rows: LostRunRow[] = await db.withSystemScope((trx) => deps.syncLogs.listUnfinishedRuns(trx, minAge, 5_000))
    let requeued = 0
    for (const run of rows) {
      try {
        if (await requeueRun(queues, run)) {
          requeued++
          logger.info({ syncLogId: run.id, jobId: run.job_id ?? run.id, queue: run.queue }, 'reconciler re-enqueued a run whose job was lost')
        }
      } catch (err) {
        logger.warn({ err, syncLogId: run.id }, 'reconciler could not re-enqueue a run')
      }
    }
    return requeued
  }

  async function reconcileSchedules(): Promise<{ upserted: number; removed: number }> {
    const connections = await db.withSystemScope((trx) => deps.connections.listActive(trx))
    const repeatables = await queues.queues.normal.getRepeatableJobs()
    // By cron: a schedule another version left (an interval, or another cron) is replaced.
    const existing = new Map<string, string | null>()
    for (const repeatable of repeatables) existing.set(repeatable.id ?? '', repeatable.cron || null)
    let upserted = 0
    let removed = 0
    const active = new Set<string>()
    for (const connection of connections) {
      active.add(connection.id)
      try {
        const cron = await deps.scheduleFor(connection.tenant_id, connection)
        const entities = deps.providers[connection.provider].adapter.entities
        const ids = entities.map((entity) => `schedule-${connection.id}-${entity}`)
        if (cron === null) {
          if (ids.some((id) => existing.has(id))) {
            await deps.unschedule(connection.tenant_id, connection.id)
            removed++
          }
          continue
        }
        if (ids.every((id) => existing.get(id) === cron)) continue
        await deps.schedule(connection.tenant_id, connection.id, cron)
        upserted++
      } catch (err) {
        logger.warn({ err, connectionId: connection.id }, 'reconciler could not restore a schedule')
      }
    }
    // Schedules of connections that are no longer active would only open runs that fail.
    for (const repeatable of repeatables) {
      const match = SCHEDULE_ID.exec(repeatable.id ?? '')
      if (!match || active.has(match[1] as string)) continue
      await queues.queues.normal.removeRepeatableByKey(repeatable.key)
      removed++
    }
    return { upserted, removed }
  }

  return {
    reconcileRuns,
    reconcileSchedules,
    async reconcile(): Promise<ReconcileReport> {
      const requeued = await reconcileRuns()
      const schedules = await reconcileSchedules()
      if (requeued > 0 || schedules.upserted > 0 || schedules.removed > 0) logger.info({ requeued, ...schedules }, 'reconciled Redis with Postgres')
      return { requeued, schedulesUpserted: schedules.upserted, schedulesRemoved: schedules.removed }
    },
  }
}

export type SyncReconciler = ReturnType<typeof createSyncReconciler>
