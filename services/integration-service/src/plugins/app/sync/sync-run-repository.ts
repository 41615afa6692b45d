// The sync engine's side of sync_logs beyond the shared repository: runs of every kind (pull,
// push, webhook), the active-run lookup behind SYNC_ALREADY_RUNNING, and lookups by job id.
import type { Knex } from 'knex'
import type { SyncLog } from '@hub/contracts'
import { toSyncLog } from '../sync-logs/sync-log-repository.ts'

export type RunKind = 'pull' | 'push' | 'webhook'

export interface NewRun {
  tenantId: string
  venueId: string
  connectionId: string
  provider: SyncLog['provider']
  entity: SyncLog['entity']
  mode: SyncLog['mode']
  trigger: SyncLog['trigger']
  queue: string
  kind: RunKind
  status?: SyncLog['status']
}

export interface ActiveRun {
  id: string
  entity: SyncLog['entity']
  kind: RunKind
  job_id: string | null
  status: SyncLog['status']
  queue: string
}

const table = (trx: Knex.Transaction) => trx('integration.sync_logs')

/** The unique index that keeps two runs of one (connection, entity, kind) from being active. */
export const isActiveRunConflict = (error: unknown): boolean =>
  (error as { code?: string }).code === '23505' && (error as { constraint?: string }).constraint === 'sync_logs_one_active_run'

export function createSyncRunRepository() {
  return {
    async insertRuns(trx: Knex.Transaction, runs: NewRun[]): Promise<SyncLog[]> {
      if (runs.length === 0) return []
      const rows = await table(trx)
        .insert(
          runs.map((run) => ({
            tenant_id: run.tenantId,
            venue_id: run.venueId,
            connection_id: run.connectionId,
            provider: run.provider,
            entity: run.entity,
            mode: run.mode,
            trigger: run.trigger,
            queue: run.queue,
            kind: run.kind,
            status: run.status ?? 'queued',
          })),
        )
        .returning('*')
      return rows.map(toSyncLog)
    },

    async findActive(trx: Knex.Transaction, connectionId: string, kind: RunKind, entities: string[]): Promise<ActiveRun[]> {
      return (await table(trx)
        .select('id', 'entity', 'kind', 'job_id', 'status', 'queue')
        .where({ connection_id: connectionId, kind })
        .whereIn('entity', entities)
        .whereIn('status', ['queued', 'running'])) as ActiveRun[]
    },

    async findRow(trx: Knex.Transaction, id: string): Promise<(SyncLog & { kind: RunKind }) | null> {
      const row = await table(trx).where({ id }).first()
      return row ? { ...toSyncLog(row), kind: row.kind as RunKind } : null
    },

    async findByJobId(trx: Knex.Transaction, jobId: string): Promise<SyncLog | null> {
      const row = await table(trx).where({ job_id: jobId }).orderBy('created_at', 'desc').first()
      return row ? toSyncLog(row) : null
    },

    /** The run starts (or resumes): running, first start time and cursor kept, job id current. */
    async markRunning(trx: Knex.Transaction, id: string, changes: { jobId: string; cursorBefore: string | null }): Promise<void> {
      await table(trx)
        .where({ id })
        .update({
          status: 'running',
          job_id: changes.jobId,
          started_at: trx.raw('coalesce(started_at, now())'),
          cursor_before: trx.raw('coalesce(cursor_before, ?)', [changes.cursorBefore]),
          finished_at: null,
        })
    },

    async setMode(trx: Knex.Transaction, id: string, mode: SyncLog['mode']): Promise<void> {
      await table(trx).where({ id }).update({ mode })
    },

    /** Back to queued for another attempt (a retried dead letter); throws the active-run conflict if another run is active. */
    async requeue(trx: Knex.Transaction, id: string, jobId: string): Promise<void> {
      await table(trx).where({ id }).update({ status: 'queued', job_id: jobId, finished_at: null, error_code: null, error_message: null })
    },
  }
}

export type SyncRunRepository = ReturnType<typeof createSyncRunRepository>
