// reconciliation_runs and reconciliation_seen: a run's row (what, who, status, checkpoint, counts and
// totals on each side) and the provider ids a full run has seen so far, noted page by page with its
// checkpoint so a resumed run still knows them.
import type { Knex } from 'knex'
import type { EntityName, ProviderName } from '../../../providers/canonical.ts'

export type RunMode = 'full' | 'quick'
export type RunTrigger = 'manual' | 'scheduled' | 'escalation'
export type RunStatus = 'queued' | 'running' | 'clean' | 'drift' | 'failed'
export const FINISHED_RUN_STATUSES: ReadonlySet<RunStatus> = new Set(['clean', 'drift', 'failed'])

/** Count and sum of amounts (integer minor units) per `CURRENCY:YYYY-MM-DD`. */
export type Totals = Record<string, { count: number; amount: number }>

export interface RunRow {
  id: string
  tenant_id: string
  venue_id: string
  connection_id: string
  provider: ProviderName
  entity: EntityName
  mode: RunMode
  trigger: RunTrigger
  status: RunStatus
  job_key: string | null
  job_id: string | null
  requested_by: string | null
  period_from: Date | null
  period_to: Date | null
  cursor: string | null
  pages: number
  provider_count: number
  hub_count: number | null
  provider_totals: Totals
  hub_totals: Totals | null
  missing_in_hub: number
  missing_at_provider: number
  changed: number
  amount_mismatch: number
  repaired: number
  repaired_at: Date | null
  escalated_run_id: string | null
  error_code: string | null
  error_message: string | null
  created_at: Date
  started_at: Date | null
  finished_at: Date | null
  duration_ms: number | null
}

export interface NewRun {
  tenantId: string
  venueId: string
  connectionId: string
  provider: ProviderName
  entity: EntityName
  mode: RunMode
  trigger: RunTrigger
  jobKey?: string | null
  requestedBy?: string | null
  periodFrom?: Date | null
  periodTo?: Date | null
}

export interface RunFilter {
  venueId?: string | undefined
  venueIds?: string[] | undefined
  connectionId?: string | undefined
  provider?: string | undefined
  entity?: string | undefined
  status?: string | undefined
  mode?: string | undefined
  before?: { createdAt: string; id: string } | undefined
  limit: number
}

/** The latest finished full run of each connection of a venue (compliance's report). */
export interface LatestRunRow extends RunRow {
  last_clean_at: Date | null
}

const runs = (trx: Knex.Transaction) => trx<RunRow>('integration.reconciliation_runs')

export function isActiveRunConflict(error: unknown): boolean {
  return (error as { code?: string; constraint?: string }).code === '23505' && (error as { constraint?: string }).constraint === 'reconciliation_runs_active_idx'
}

export function createReconciliationRunRepository() {
  return {
    /** Inserts a run; with a job key already used, returns the run that key created instead. */
    async insert(trx: Knex.Transaction, run: NewRun): Promise<RunRow> {
      const values = {
        tenant_id: run.tenantId,
        venue_id: run.venueId,
        connection_id: run.connectionId,
        provider: run.provider,
        entity: run.entity,
        mode: run.mode,
        trigger: run.trigger,
        job_key: run.jobKey ?? null,
        requested_by: run.requestedBy ?? null,
        period_from: run.periodFrom ?? null,
        period_to: run.periodTo ?? null,
      }
      if (run.jobKey) {
        const existing = await runs(trx).where({ connection_id: run.connectionId, job_key: run.jobKey }).first()
        if (existing) return existing as RunRow
      }
      const [row] = await runs(trx).insert(values).returning('*')
      return row as RunRow
    },

    async find(trx: Knex.Transaction, id: string): Promise<RunRow | null> {
      return ((await runs(trx).where({ id }).first()) as RunRow | undefined) ?? null
    },

    /** The row locked for the rest of the transaction: the fence every checkpoint passes. */
    async lock(trx: Knex.Transaction, id: string): Promise<RunRow | null> {
      return ((await runs(trx).where({ id }).forUpdate().first()) as RunRow | undefined) ?? null
    },

    async update(trx: Knex.Transaction, id: string, patch: Partial<Omit<RunRow, 'id' | 'tenant_id' | 'provider_totals' | 'hub_totals'>> & { provider_totals?: Totals; hub_totals?: Totals | null }): Promise<RunRow> {
      const values: Record<string, unknown> = { ...patch }
      if (patch.provider_totals) values.provider_totals = JSON.stringify(patch.provider_totals)
      if (patch.hub_totals) values.hub_totals = JSON.stringify(patch.hub_totals)
      const [row] = await runs(trx).where({ id }).update(values).returning('*')
      return row as RunRow
    },

    /** Marks the run running; a resumed run keeps its first start (the cut-off for in-flight records). */
    async markRunning(trx: Knex.Transaction, id: string, jobId: string | null): Promise<RunRow> {
      const [row] = await runs(trx)
        .where({ id })
        .update({ status: 'running', job_id: jobId, error_code: null, error_message: null, started_at: trx.raw('coalesce(started_at, now())') as unknown as Date })
        .returning('*')
      return row as RunRow
    },

    /** Ends the run: its outcome, when it finished and how long it took from its first start. */
    async finish(
      trx: Knex.Transaction,
      id: string,
      patch: Partial<Pick<RunRow, 'status' | 'hub_count' | 'missing_in_hub' | 'missing_at_provider' | 'changed' | 'amount_mismatch' | 'escalated_run_id' | 'error_code' | 'error_message'>> & { hub_totals?: Totals },
    ): Promise<RunRow> {
      const values: Record<string, unknown> = { ...patch, finished_at: trx.fn.now(), duration_ms: trx.raw('coalesce((extract(epoch from (now() - started_at)) * 1000)::int, 0)') }
      if (patch.hub_totals) values.hub_totals = JSON.stringify(patch.hub_totals)
      const [row] = await runs(trx).where({ id }).update(values).returning('*')
      return row as RunRow
    },

    /**
     * Runs whose job may be gone with Redis, or have failed for good while Postgres could not take
     * the run's end: every running run (a worker took it up, so no request is still enqueueing it)
     * and runs still queued `queuedOlderThanMs` after they were created.
     */
    async listActive(trx: Knex.Transaction, queuedOlderThanMs: number, limit: number): Promise<RunRow[]> {
      return (await runs(trx)
        .where('status', 'running')
        .orWhere((q) => q.where('status', 'queued').whereRaw("created_at < now() - (? * interval '1 millisecond')", [queuedOlderThanMs]))
        .orderBy('created_at')
        .limit(limit)) as RunRow[]
    },

    /** The tenant's runs, newest first; in the tenant's transaction. */
    async list(trx: Knex.Transaction, filter: RunFilter): Promise<RunRow[]> {
      const q = runs(trx).select('*')
      if (filter.venueId) q.where('venue_id', filter.venueId)
      if (filter.venueIds) q.whereIn('venue_id', filter.venueIds)
      if (filter.connectionId) q.where('connection_id', filter.connectionId)
      if (filter.provider) q.where('provider', filter.provider)
      if (filter.entity) q.where('entity', filter.entity)
      if (filter.status) q.where('status', filter.status)
      if (filter.mode) q.where('mode', filter.mode)
      if (filter.before) q.whereRaw('(created_at, id) < (?::timestamptz, ?::uuid)', [filter.before.createdAt, filter.before.id])
      return (await q
        .orderBy([
          { column: 'created_at', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(filter.limit)) as RunRow[]
    },

    /** Each connection's latest finished full run of each entity, for a venue. */
    async latestForVenue(trx: Knex.Transaction, venueId: string): Promise<LatestRunRow[]> {
      const result = (await trx.raw(
        `select distinct on (r.connection_id, r.entity) r.*,
                (select max(c.finished_at) from integration.reconciliation_runs c
                  where c.connection_id = r.connection_id and c.entity = r.entity and c.mode = 'full' and c.status = 'clean') as last_clean_at
           from integration.reconciliation_runs r
          where r.venue_id = ? and r.mode = 'full' and r.finished_at is not null
          order by r.connection_id, r.entity, r.finished_at desc`,
        [venueId],
      )) as { rows: LatestRunRow[] }
      return result.rows
    },

    /**
     * Across tenants (system scope): per connection, drift when the latest full run of any of its
     * entities found drift, and when its last clean full run finished (the gauges).
     */
    async connectionHealth(trx: Knex.Transaction): Promise<Array<{ connection_id: string; provider: string; last_status: RunStatus; last_finished_at: Date; last_clean_at: Date | null }>> {
      const result = (await trx.raw(
        `with latest as (
           select distinct on (connection_id, entity) connection_id, provider, status, finished_at
             from integration.reconciliation_runs
            where mode = 'full' and finished_at is not null and status in ('clean', 'drift')
            order by connection_id, entity, finished_at desc
         )
         select l.connection_id, min(l.provider) as provider,
                case when bool_or(l.status = 'drift') then 'drift' else 'clean' end as last_status,
                max(l.finished_at) as last_finished_at,
                (select max(c.finished_at) from integration.reconciliation_runs c where c.connection_id = l.connection_id and c.mode = 'full' and c.status = 'clean') as last_clean_at
           from latest l group by l.connection_id`,
      )) as { rows: Array<{ connection_id: string; provider: string; last_status: RunStatus; last_finished_at: Date; last_clean_at: Date | null }> }
      return result.rows
    },

    async noteSeen(trx: Knex.Transaction, run: Pick<RunRow, 'id' | 'tenant_id'>, externalIds: string[]): Promise<void> {
      if (externalIds.length === 0) return
      await trx('integration.reconciliation_seen').insert({ tenant_id: run.tenant_id, run_id: run.id, external_ids: externalIds })
    },

    async forgetSeen(trx: Knex.Transaction, runId: string): Promise<void> {
      await trx('integration.reconciliation_seen').where({ run_id: runId }).delete()
    },
  }
}

export type ReconciliationRunRepository = ReturnType<typeof createReconciliationRunRepository>
