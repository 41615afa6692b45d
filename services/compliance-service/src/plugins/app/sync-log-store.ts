// compliance-service's own copy of sync runs: written by the consumer (system scope), read by
// auditors (tenant scope). A run seen again replaces the stored state only if it is newer.
import type { Knex } from 'knex'
import type { SyncLog } from '@hub/contracts'

export interface StoredSyncLogRow {
  id: string
  tenant_id: string
  venue_id: string
  connection_id: string
  provider: string
  entity: string
  mode: string
  trigger: string
  queue: string
  job_id: string | null
  status: string
  started_at: Date | null
  finished_at: Date | null
  records_fetched: number
  records_created: number
  records_updated: number
  records_unchanged: number
  records_deleted: number
  records_failed: number
  error_code: string | null
  error_message: string | null
  source_created_at: Date
  source_updated_at: Date
  first_seen_at: Date
  last_seen_at: Date
  times_seen: number
}

const iso = (d: Date | null) => (d ? d.toISOString() : null)

export function toStoredSyncLog(row: StoredSyncLogRow) {
  return {
    id: row.id,
    venueId: row.venue_id,
    connectionId: row.connection_id,
    provider: row.provider,
    entity: row.entity,
    mode: row.mode,
    trigger: row.trigger,
    status: row.status,
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    counts: { fetched: row.records_fetched, created: row.records_created, updated: row.records_updated, unchanged: row.records_unchanged, deleted: row.records_deleted, failed: row.records_failed },
    errorCode: row.error_code,
    errorMessage: row.error_message,
    createdAt: row.source_created_at.toISOString(),
    updatedAt: row.source_updated_at.toISOString(),
  }
}
export type StoredSyncLog = ReturnType<typeof toStoredSyncLog>

export interface SyncLogFilter {
  venueId: string
  provider?: string
  status?: string
  entity?: string
  from?: string
  to?: string
}

export function createSyncLogStore() {
  const table = (trx: Knex.Transaction) => trx<StoredSyncLogRow>('compliance.sync_logs')

  function filtered(trx: Knex.Transaction, filter: SyncLogFilter) {
    // No tenant filter: row-level security supplies it.
    const query = table(trx).where('venue_id', filter.venueId)
    if (filter.provider) query.where('provider', filter.provider)
    if (filter.status) query.where('status', filter.status)
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
      const rows = [...latest.values()].map((log) => ({
        id: log.id,
        tenant_id: log.tenantId,
        venue_id: log.venueId,
        connection_id: log.connectionId,
        provider: log.provider,
        entity: log.entity,
        mode: log.mode,
        trigger: log.trigger,
        queue: log.queue,
        job_id: log.jobId,
        status: log.status,
        started_at: log.startedAt ? new Date(log.startedAt) : null,
        finished_at: log.finishedAt ? new Date(log.finishedAt) : null,
        records_fetched: log.counts.fetched,
        records_created: log.counts.created,
        records_updated: log.counts.updated,
        records_unchanged: log.counts.unchanged,
        records_deleted: log.counts.deleted,
        records_failed: log.counts.failed,
        error_code: log.errorCode,
        error_message: log.errorMessage,
        source_created_at: new Date(log.createdAt),
        source_updated_at: new Date(log.updatedAt),
      }))
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

    async all(trx: Knex.Transaction, filter: SyncLogFilter, max: number): Promise<StoredSyncLog[]> {
      const rows = await filtered(trx, filter)
        .orderBy([
          { column: 'source_created_at', order: 'asc' },
          { column: 'id', order: 'asc' },
        ])
        .limit(max)
      return rows.map(toStoredSyncLog)
    },
  }
}

export type SyncLogStore = ReturnType<typeof createSyncLogStore>
