// compliance-service's own copy of sync runs: written by the consumer (system scope), read by
// auditors (tenant scope). A run seen again replaces the stored state only if it is newer.
import type { Knex } from 'knex'
import { syncLogFromRow, syncLogToRow, type SyncLog, type SyncLogRow } from '@hub/contracts'

export interface StoredSyncLogRow extends SyncLogRow {
  source_created_at: Date
  source_updated_at: Date
  first_seen_at: Date
  last_seen_at: Date
  times_seen: number
}

/** What auditors are shown of a run: the contract's run without tenant, queue, job and cursors. */
export function toStoredSyncLog(row: StoredSyncLogRow) {
  const log = syncLogFromRow(row, { createdAt: row.source_created_at, updatedAt: row.source_updated_at, cursorBefore: null, cursorAfter: null })
  const { id, venueId, connectionId, provider, entity, mode, trigger, status, startedAt, finishedAt, counts, errorCode, errorMessage, createdAt, updatedAt } = log
  return { id, venueId, connectionId, provider, entity, mode, trigger, status, startedAt, finishedAt, counts, errorCode, errorMessage, createdAt, updatedAt }
}
export type StoredSyncLog = ReturnType<typeof toStoredSyncLog>

/** One (provider, status) of a period: how many runs, the records they moved, the latest finish. */
export interface SyncLogTotals {
  provider: string
  status: string
  runs: number
  counts: { fetched: number; created: number; updated: number; unchanged: number; deleted: number; failed: number }
  lastFinishedAt: string | null
}

export interface SyncLogPosition {
  at: string
  id: string
}

export interface SyncLogFilter {
  venueId: string
  provider?: string
  status?: string | string[]
  entity?: string
  from?: string
  to?: string
}

export function createSyncLogStore() {
  const table = (trx: Knex.Transaction) => trx<StoredSyncLogRow>('compliance.sync_logs')

  function filtered(trx: Knex.Transaction, filter: SyncLogFilter) {
    // In the tenant's transaction: row-level security decides what is visible.
    const query = table(trx).where('venue_id', filter.venueId)
    if (filter.provider) query.where('provider', filter.provider)
    if (Array.isArray(filter.status)) query.whereIn('status', filter.status)
    else if (filter.status) query.where('status', filter.status)
    if (filter.entity) query.where('entity', filter.entity)
    if (filter.from) query.where('source_created_at', '>=', filter.from)
    if (filter.to) query.where('source_created_at', '<', filter.to)
    return query
  }

  return {
    async upsertMany(trx: Knex.Transaction, logs: SyncLog[]): Promise<void> {
      if (logs.length === 0) return
      // One page can carry the same run twice only across pages, but be safe within a batch too.
      const latest = new Map<string, SyncLog>()
      for (const log of logs) {
        const seen = latest.get(log.id)
        if (!seen || seen.updatedAt <= log.updatedAt) latest.set(log.id, log)
      }
      const rows = [...latest.values()].map((log) => ({ ...syncLogToRow(log), source_created_at: new Date(log.createdAt), source_updated_at: new Date(log.updatedAt) }))
      const excluded = (column: string) => trx.raw('excluded.??', [column])
      const copied = ['status', 'job_id', 'started_at', 'finished_at', 'records_fetched', 'records_created', 'records_updated', 'records_unchanged', 'records_deleted', 'records_failed', 'error_code', 'error_message', 'source_updated_at']
      await table(trx)
        .insert(rows)
        .onConflict('id')
        .merge({ ...Object.fromEntries(copied.map((column) => [column, excluded(column)])), last_seen_at: trx.fn.now(), times_seen: trx.raw('sync_logs.times_seen + 1') })
        // An older state arriving late never overwrites a newer one.
        .where('sync_logs.source_updated_at', '<=', trx.raw('excluded.source_updated_at'))
    },

    /** A stored run's status, or null when it is not here (row-level security scopes it to the tenant). */
    async statusOf(trx: Knex.Transaction, id: string): Promise<SyncLog['status'] | null> {
      const row = (await table(trx).select('status').where({ id }).first()) as { status: SyncLog['status'] } | undefined
      return row?.status ?? null
    },

    /** Whether any stored run names this venue (row-level security scopes it to the tenant). */
    async knowsVenue(trx: Knex.Transaction, venueId: string): Promise<boolean> {
      return (await table(trx).select(trx.raw('1')).where({ venue_id: venueId }).first()) !== undefined
    },

    async page(trx: Knex.Transaction, filter: SyncLogFilter, limit: number, before?: { at: string; id: string }): Promise<StoredSyncLog[]> {
      const query = filtered(trx, filter)
      if (before) query.whereRaw('(source_created_at, id) < (?::timestamptz, ?::uuid)', [before.at, before.id])
      const rows = await query
        .orderBy([
          { column: 'source_created_at', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(limit)
      return rows.map(toStoredSyncLog)
    },

    /** Tenants with stored runs (system scope), walked through the index one tenant at a time. */
    async tenantIds(trx: Knex.Transaction): Promise<string[]> {
      const result = await trx.raw<{ rows: Array<{ id: string }> }>(`
        with recursive t as (
          (select tenant_id as id from compliance.sync_logs where tenant_id is not null order by tenant_id limit 1)
          union all
          select (select tenant_id from compliance.sync_logs where tenant_id > t.id order by tenant_id limit 1) from t where t.id is not null
        )
        select id from t where id is not null`)
      return result.rows.map((row) => row.id)
    },

    /**
     * Retention: deletes at most `limit` runs of the tenant created before `cutoff`, outside the
     * held venues and connections (call inside `withTenant`); returns how many went.
     */
    async purgeBatch(trx: Knex.Transaction, tenantId: string, cutoff: Date, held: { venueIds: string[]; connectionIds: string[] }, limit: number): Promise<number> {
      const result = await trx.raw(
        `delete from compliance.sync_logs where ctid = any(array(
           select ctid from compliance.sync_logs
           where tenant_id = ? and source_created_at < ? and venue_id <> all(?::uuid[]) and connection_id <> all(?::uuid[])
           limit ?))`,
        [tenantId, cutoff, held.venueIds, held.connectionIds, limit],
      )
      return (result as { rowCount: number }).rowCount
    },

    /**
     * Runs counted and their records summed by provider and status, with the latest finish of
     * each, in the database: a few rows back however many runs the filter matches.
     */
    async totals(trx: Knex.Transaction, filter: SyncLogFilter): Promise<SyncLogTotals[]> {
      const sum = (column: string) => trx.raw('coalesce(sum(??), 0)::bigint', [column])
      const rows = (await filtered(trx, filter)
        .clearSelect()
        .select('provider', 'status', {
          runs: trx.raw('count(*)::bigint'),
          fetched: sum('records_fetched'),
          created: sum('records_created'),
          updated: sum('records_updated'),
          unchanged: sum('records_unchanged'),
          deleted: sum('records_deleted'),
          failed: sum('records_failed'),
          last_finished_at: trx.raw('max(finished_at)'),
        })
        .groupBy('provider', 'status')
        .orderBy([{ column: 'provider' }, { column: 'status' }])) as Array<Record<'provider' | 'status' | 'runs' | keyof SyncLogTotals['counts'], string> & { last_finished_at: Date | null }>
      return rows.map((row) => ({
        provider: row.provider,
        status: row.status,
        runs: Number(row.runs),
        counts: { fetched: Number(row.fetched), created: Number(row.created), updated: Number(row.updated), unchanged: Number(row.unchanged), deleted: Number(row.deleted), failed: Number(row.failed) },
        lastFinishedAt: row.last_finished_at ? row.last_finished_at.toISOString() : null,
      }))
    },

    /**
     * Runs oldest first, after a position (keyset), at most `limit`: exports walk a period in
     * batches. `next` is the position of the last one, kept as the database's own text of its
     * timestamp so that no precision is lost between batches.
     */
    async ascending(trx: Knex.Transaction, filter: SyncLogFilter, limit: number, after?: SyncLogPosition): Promise<{ runs: StoredSyncLog[]; next: SyncLogPosition | null }> {
      const query = filtered(trx, filter).select('*', trx.raw('source_created_at::text as position_at'))
      if (after) query.whereRaw('(source_created_at, id) > (?::timestamptz, ?::uuid)', [after.at, after.id])
      const rows = (await query
        .orderBy([
          { column: 'source_created_at', order: 'asc' },
          { column: 'id', order: 'asc' },
        ])
        .limit(limit)) as Array<StoredSyncLogRow & { position_at: string }>
      const last = rows.at(-1)
      return { runs: rows.map(toStoredSyncLog), next: last ? { at: last.position_at, id: last.id } : null }
    },
  }
}

export type SyncLogStore = ReturnType<typeof createSyncLogStore>
