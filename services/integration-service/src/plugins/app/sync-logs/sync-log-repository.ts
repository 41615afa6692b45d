// Data access for sync logs: one row per sync run, and the change feed compliance-service reads.
import type { Knex } from 'knex'
import type { SyncLog } from '@hub/contracts'

interface SyncLogRow {
  id: string
  tenant_id: string
  venue_id: string
  connection_id: string
  provider: SyncLog['provider']
  entity: SyncLog['entity']
  mode: SyncLog['mode']
  trigger: SyncLog['trigger']
  queue: string
  job_id: string | null
  status: SyncLog['status']
  started_at: Date | null
  finished_at: Date | null
  records_fetched: number
  records_created: number
  records_updated: number
  records_unchanged: number
  records_deleted: number
  records_failed: number
  cursor_before: string | null
  cursor_after: string | null
  error_code: string | null
  error_message: string | null
  created_at: Date
  updated_at: Date
  /** change_xid as text (xid8 has no JS type). */
  change_xid_text?: string
}

const iso = (date: Date | null): string | null => (date ? date.toISOString() : null)

export function toSyncLog(row: SyncLogRow): SyncLog {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    venueId: row.venue_id,
    connectionId: row.connection_id,
    provider: row.provider,
    entity: row.entity,
    mode: row.mode,
    trigger: row.trigger,
    queue: row.queue,
    jobId: row.job_id,
    status: row.status,
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    counts: {
      fetched: row.records_fetched,
      created: row.records_created,
      updated: row.records_updated,
      unchanged: row.records_unchanged,
      deleted: row.records_deleted,
      failed: row.records_failed,
    },
    cursorBefore: row.cursor_before,
    cursorAfter: row.cursor_after,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  }
}

export interface NewSyncLog {
  tenantId: string
  venueId: string
  connectionId: string
  provider: SyncLog['provider']
  entity: SyncLog['entity']
  mode: SyncLog['mode']
  trigger: SyncLog['trigger']
  queue: string
  jobId?: string | null
  cursorBefore?: string | null
}

export interface SyncLogChanges {
  status?: SyncLog['status']
  jobId?: string | null
  startedAt?: Date | null
  finishedAt?: Date | null
  counts?: Partial<SyncLog['counts']>
  cursorAfter?: string | null
  errorCode?: string | null
  errorMessage?: string | null
}

/** Feed position: the writing transaction id and the row id, in that order. */
export interface FeedPosition {
  xid: string
  id: string
}

export type FeedRow = SyncLog & { position: FeedPosition }

const table = (trx: Knex.Transaction) => trx<SyncLogRow>('integration.sync_logs')

export function createSyncLogRepository() {
  async function page(trx: Knex.Transaction, filter: { venueId?: string; since?: string; after?: FeedPosition; limit: number }): Promise<FeedRow[]> {
    const query = table(trx)
      .select('*', trx.raw('change_xid::text as change_xid_text'))
      // Only rows whose writer is older than every running transaction: a transaction that
      // commits late can never land behind a position a reader has already passed.
      .whereRaw('change_xid < pg_snapshot_xmin(pg_current_snapshot())')
    if (filter.venueId) query.where('venue_id', filter.venueId)
    if (filter.since) query.where('updated_at', '>=', filter.since)
    if (filter.after) query.whereRaw('(change_xid, id) > (?::xid8, ?::uuid)', [filter.after.xid, filter.after.id])
    const rows = await query.orderBy([{ column: 'change_xid' }, { column: 'id' }]).limit(filter.limit)
    return rows.map((row) => ({ ...toSyncLog(row), position: { xid: String(row.change_xid_text), id: row.id } }))
  }

  return {
    async insert(trx: Knex.Transaction, log: NewSyncLog): Promise<SyncLog> {
      const [row] = await table(trx)
        .insert({
          tenant_id: log.tenantId,
          venue_id: log.venueId,
          connection_id: log.connectionId,
          provider: log.provider,
          entity: log.entity,
          mode: log.mode,
          trigger: log.trigger,
          queue: log.queue,
          job_id: log.jobId ?? null,
          cursor_before: log.cursorBefore ?? null,
        })
        .returning('*')
      return toSyncLog(row as SyncLogRow)
    },

    async update(trx: Knex.Transaction, id: string, changes: SyncLogChanges): Promise<SyncLog | null> {
      const patch: Record<string, unknown> = {}
      if (changes.status !== undefined) patch.status = changes.status
      if (changes.jobId !== undefined) patch.job_id = changes.jobId
      if (changes.startedAt !== undefined) patch.started_at = changes.startedAt
      if (changes.finishedAt !== undefined) patch.finished_at = changes.finishedAt
      if (changes.cursorAfter !== undefined) patch.cursor_after = changes.cursorAfter
      if (changes.errorCode !== undefined) patch.error_code = changes.errorCode
      if (changes.errorMessage !== undefined) patch.error_message = changes.errorMessage?.slice(0, 2000) ?? null
      for (const [key, value] of Object.entries(changes.counts ?? {})) patch[`records_${key}`] = value
      const [row] = await table(trx).where({ id }).update(patch).returning('*')
      return row ? toSyncLog(row as SyncLogRow) : null
    },

    async findById(trx: Knex.Transaction, id: string): Promise<SyncLog | null> {
      const row = await table(trx).where({ id }).first()
      return row ? toSyncLog(row) : null
    },

    /** Across tenants (system scope): every change in order. */
    feed: (trx: Knex.Transaction, after: FeedPosition | undefined, limit: number) => page(trx, { after, limit }),

    /** One venue's runs (system scope), in the same stable order. */
    venuePage: (trx: Knex.Transaction, venueId: string, options: { since?: string; after?: FeedPosition; limit: number }) => page(trx, { venueId, ...options }),
  }
}

export type SyncLogRepository = ReturnType<typeof createSyncLogRepository>
