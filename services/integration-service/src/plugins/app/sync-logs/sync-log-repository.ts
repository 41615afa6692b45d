// Data access for sync logs: one row per sync run of every kind (pull, push, webhook), the
// active-run lookup behind SYNC_ALREADY_RUNNING, the tenant's list, and the change feed
// compliance-service reads. A run's first start and its end publish their events here, in the
// writer's transaction: every writer of a run's status goes through this file, so none can forget.
import { randomUUID } from 'node:crypto'
import type { Knex } from 'knex'
import { syncLogFromRow, type HubEventType, type SyncLog, type SyncLogRow as SyncLogColumns } from '@hub/contracts'
import { INTEGRATION_TABLES } from '../../../db/schema.ts'
import { outboxInsert, type NewHubEvent } from '../events/event-outbox-repository.ts'
import { publishRunStarted, publishRunTransition, runStartedEvent, runTransitionEvent, type RunRow } from '../events/run-events.ts'

interface SyncLogRow extends SyncLogColumns {
  cursor_before: string | null
  cursor_after: string | null
  created_at: Date
  updated_at: Date
  /** change_xid as text (xid8 has no JS type). */
  change_xid_text?: string
}

export function toSyncLog(row: SyncLogRow): SyncLog {
  return syncLogFromRow(row, { createdAt: row.created_at, updatedAt: row.updated_at, cursorBefore: row.cursor_before, cursorAfter: row.cursor_after })
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

/** A run written once, already ended (its status is where it ended). */
export interface FinishedRun extends Omit<NewRun, 'status'> {
  status: Exclude<SyncLog['status'], 'queued' | 'running'>
  jobId: string
  startedAt: Date
  finishedAt: Date
  counts: SyncLog['counts']
  errorCode?: string | null
  errorMessage?: string | null
}

export interface ActiveRun {
  id: string
  entity: SyncLog['entity']
  kind: RunKind
  job_id: string | null
  status: SyncLog['status']
  queue: string
  created_at: Date
}

/** Feed position: the writing transaction id and the row id, in that order. */
export interface FeedPosition {
  xid: string
  id: string
}

export type FeedRow = SyncLog & { position: FeedPosition }

const table = (trx: Knex.Transaction) => trx<SyncLogRow>(INTEGRATION_TABLES.syncLogs)

/** A new run's columns (its status as given, queued by default). */
const runColumns = (run: NewRun) => ({
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
})

const countColumns = (counts: Partial<SyncLog['counts']>) => Object.fromEntries(Object.entries(counts).map(([key, value]) => [`records_${key}`, value]))

const errorMessageColumn = (message: string | null | undefined) => message?.slice(0, 2000) ?? null

/** The unique index that keeps two runs of one (connection, entity, kind) from being active. */
export const isActiveRunConflict = (error: unknown): boolean => (error as { code?: string }).code === '23505' && (error as { constraint?: string }).constraint === 'sync_logs_one_active_run'

/** A filter of the tenant's list (newest first); `venueIds` limits it to those venues. */
export interface SyncLogListFilter {
  venueId?: string | undefined
  venueIds?: string[] | undefined
  connectionId?: string | undefined
  provider?: string | undefined
  entity?: string | undefined
  status?: string | undefined
  before?: { createdAt: string; id: string } | undefined
  limit: number
}

/** An unfinished run as the reconciler reads it. */
export interface UnfinishedRunRow extends Pick<SyncLogColumns, 'id' | 'tenant_id' | 'venue_id' | 'connection_id' | 'provider' | 'entity' | 'mode' | 'trigger' | 'queue' | 'job_id'> {
  kind: RunKind
}

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
    /**
     * Retention: deletes at most `limit` finished runs of the tenant created before `cutoff`,
     * outside the held venues and connections (call inside `withTenant`); returns how many went.
     */
    async purgeBatch(trx: Knex.Transaction, tenantId: string, cutoff: Date, held: { venueIds: string[]; connectionIds: string[] }, limit: number): Promise<number> {
      const result = await trx.raw(
        `delete from ${INTEGRATION_TABLES.syncLogs} where ctid = any(array(
           select ctid from ${INTEGRATION_TABLES.syncLogs}
           where tenant_id = ? and created_at < ? and status not in ('queued', 'running') and venue_id <> all(?::uuid[]) and connection_id <> all(?::uuid[])
           limit ?))`,
        [tenantId, cutoff, held.venueIds, held.connectionIds, limit],
      )
      return (result as { rowCount: number }).rowCount
    },

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
      if (changes.errorMessage !== undefined) patch.error_message = errorMessageColumn(changes.errorMessage)
      Object.assign(patch, countColumns(changes.counts ?? {}))
      // The status before, under the row lock: the end of a run is published once, by its writer.
      const before = changes.status !== undefined ? ((await table(trx).select('status').where({ id }).forUpdate().first()) as { status: SyncLog['status'] } | undefined) : undefined
      const [row] = await table(trx).where({ id }).update(patch).returning('*')
      if (row && before) await publishRunTransition(trx, row as unknown as RunRow, before.status)
      return row ? toSyncLog(row as SyncLogRow) : null
    },

    async findById(trx: Knex.Transaction, id: string): Promise<SyncLog | null> {
      const row = await table(trx).where({ id }).first()
      return row ? toSyncLog(row) : null
    },

    async insertRuns(trx: Knex.Transaction, runs: NewRun[]): Promise<SyncLog[]> {
      if (runs.length === 0) return []
      const rows = await trx(INTEGRATION_TABLES.syncLogs).insert(runs.map(runColumns)).returning('*')
      for (const row of rows as RunRow[]) if (row.status === 'running') await publishRunStarted(trx, { ...row, started_at: row.started_at ?? new Date() })
      return rows.map(toSyncLog)
    },

    /**
     * A run that starts and ends in one transaction (a webhook event's), in one statement: the
     * finished row, with its start, whatever `during` adds (the write's events) and its end
     * inserted into the outbox beside it, in that order, as the run's writers publish them. The
     * row's id is made here so its events can name it before the statement runs; the events are
     * built from the same column values the row gets.
     */
    async insertFinishedRun(trx: Knex.Transaction, run: FinishedRun, during: (syncLogId: string) => Array<NewHubEvent<HubEventType>> = () => []): Promise<SyncLog> {
      const columns = {
        id: randomUUID(),
        ...runColumns(run),
        job_id: run.jobId,
        started_at: run.startedAt,
        finished_at: run.finishedAt,
        error_code: run.errorCode ?? null,
        error_message: errorMessageColumn(run.errorMessage),
        ...countColumns(run.counts),
      } as RunRow & { job_id: string; queue: string }
      const ended = runTransitionEvent(columns, 'running')
      const events = outboxInsert(trx, [runStartedEvent(columns), ...during(columns.id), ...(ended ? [ended] : [])])
      const [row] = (await trx.with('events', events).insert(columns).into(INTEGRATION_TABLES.syncLogs).returning('*')) as SyncLogRow[]
      if (!row) throw new Error('sync log insert returned nothing')
      return toSyncLog(row)
    },

    async findActive(trx: Knex.Transaction, connectionId: string, kind: RunKind, entities: string[]): Promise<ActiveRun[]> {
      return (await trx(INTEGRATION_TABLES.syncLogs)
        .select('id', 'entity', 'kind', 'job_id', 'status', 'queue', 'created_at')
        .where({ connection_id: connectionId, kind })
        .whereIn('entity', entities)
        .whereIn('status', ['queued', 'running'])) as ActiveRun[]
    },

    async findRow(trx: Knex.Transaction, id: string): Promise<(SyncLog & { kind: RunKind }) | null> {
      const row = (await table(trx).where({ id }).first()) as (SyncLogRow & { kind: string }) | undefined
      return row ? { ...toSyncLog(row), kind: row.kind as RunKind } : null
    },

    async findByJobId(trx: Knex.Transaction, jobId: string): Promise<SyncLog | null> {
      const row = await table(trx).where({ job_id: jobId }).orderBy('created_at', 'desc').first()
      return row ? toSyncLog(row) : null
    },

    /** The run starts (or resumes): running, first start time and cursor kept, job id current. */
    async markRunning(trx: Knex.Transaction, id: string, changes: { jobId: string; cursorBefore: string | null }): Promise<void> {
      const before = (await table(trx).select('started_at').where({ id }).forUpdate().first()) as { started_at: Date | null } | undefined
      const [row] = (await trx(INTEGRATION_TABLES.syncLogs)
        .where({ id })
        .update({
          status: 'running',
          job_id: changes.jobId,
          started_at: trx.raw('coalesce(started_at, now())'),
          cursor_before: trx.raw('coalesce(cursor_before, ?)', [changes.cursorBefore]),
          finished_at: null,
        })
        .returning('*')) as RunRow[]
      // Only the first start: a run resumed after a crash or a retry has started already.
      if (row && before && before.started_at === null) await publishRunStarted(trx, row)
    },

    async setMode(trx: Knex.Transaction, id: string, mode: SyncLog['mode']): Promise<void> {
      await table(trx).where({ id }).update({ mode })
    },

    /** Back to queued for another attempt (a retried dead letter); throws the active-run conflict if another run is active. */
    async requeue(trx: Knex.Transaction, id: string, jobId: string): Promise<void> {
      await table(trx).where({ id }).update({ status: 'queued', job_id: jobId, finished_at: null, error_code: null, error_message: null })
    },

    /** A run's status under a row lock (a late failure must not reopen a run another worker finished). */
    async lockStatus(trx: Knex.Transaction, id: string): Promise<SyncLog['status'] | null> {
      const row = (await table(trx).select('status').where({ id }).forUpdate().first()) as { status: SyncLog['status'] } | undefined
      return row?.status ?? null
    },

    /** The job id of each run is its own id (what makes a run's enqueue idempotent). */
    async useIdsAsJobIds(trx: Knex.Transaction, ids: string[]): Promise<void> {
      await table(trx)
        .whereIn('id', ids)
        .update({ job_id: trx.raw('id::text') as unknown as string })
    },

    /** Across tenants (system scope): queued or running pulls and pushes older than `minAgeMs`, oldest first. */
    async listUnfinishedRuns(trx: Knex.Transaction, minAgeMs: number, limit: number): Promise<UnfinishedRunRow[]> {
      return (await trx(INTEGRATION_TABLES.syncLogs)
        .select('id', 'tenant_id', 'venue_id', 'connection_id', 'provider', 'entity', 'mode', 'trigger', 'queue', 'kind', 'job_id')
        .whereIn('status', ['queued', 'running'])
        .whereIn('kind', ['pull', 'push'])
        .where('created_at', '<', trx.raw(`now() - make_interval(secs => ?)`, [minAgeMs / 1000]))
        .orderBy('created_at')
        .limit(limit)) as UnfinishedRunRow[]
    },

    /** The tenant's runs, newest first (keyset on created_at, id); in the tenant's transaction. */
    async list(trx: Knex.Transaction, filter: SyncLogListFilter): Promise<SyncLog[]> {
      const q = table(trx).select('*')
      if (filter.venueId) q.where('venue_id', filter.venueId)
      else if (filter.venueIds) q.whereIn('venue_id', filter.venueIds)
      if (filter.connectionId) q.where('connection_id', filter.connectionId)
      if (filter.provider) q.where('provider', filter.provider)
      if (filter.entity) q.where('entity', filter.entity)
      if (filter.status) q.where('status', filter.status)
      if (filter.before) q.whereRaw('(created_at, id) < (?::timestamptz, ?::uuid)', [filter.before.createdAt, filter.before.id])
      const rows = await q
        .orderBy([
          { column: 'created_at', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(filter.limit)
      return rows.map(toSyncLog)
    },

    /** Across tenants (system scope): every change in order. */
    feed: (trx: Knex.Transaction, after: FeedPosition | undefined, limit: number) => page(trx, { after, limit }),

    /** One venue's runs (system scope), in the same stable order. */
    venuePage: (trx: Knex.Transaction, venueId: string, options: { since?: string; after?: FeedPosition; limit: number }) => page(trx, { venueId, ...options }),
  }
}

export type SyncLogRepository = ReturnType<typeof createSyncLogRepository>
/** The run side of the repository, as the sync engine's processors see it. */
export type SyncRunRepository = SyncLogRepository
