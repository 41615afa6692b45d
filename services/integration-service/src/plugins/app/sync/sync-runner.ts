// One pull run of (connection, entity): pages through the adapter, maps fields, upserts records in
// batches and checkpoints after every batch in the same transaction as the batch (records, cursor
// and counts commit together), so a worker killed at any point is resumed by the next one from
// the last committed page, with nothing counted or written twice.
import type Bull from 'bull'
import type { FastifyBaseLogger } from 'fastify'
import type { SyncLog } from '@hub/contracts'
import type { Database } from '@hub/service-kit'
import type { CanonicalRecord, EntityName } from '../../../providers/canonical.ts'
import type { ChangePage } from '../../../providers/provider-adapter.ts'
import type { ConnectionContext, ConnectionForSync } from '../connections/connection-context.ts'
import { isActiveRunConflict, type SyncLogRepository, type SyncRunRepository } from '../sync-logs/sync-log-repository.ts'
import { contentHash } from './content-hash.ts'
import { mapCustomFields, mappingVersion, type FieldMapping } from './field-mapping.ts'
import { loadFieldMappings } from './field-mapping-repository.ts'
import type { JobControl } from './job-control.ts'
import { RunInterrupted, type GateTarget, type ProviderGate } from './provider-gate.ts'
import { reauthOnFailure } from './provider-reauth.ts'
import type { RecordInput, RecordRepository, RecordScope } from './record-repository.ts'
import { createReadAhead } from './read-ahead.ts'
import { publishRecordsChanged } from '../events/run-events.ts'
import type { RunSignal } from './run-signal.ts'
import { SyncFailure, runSuperseded, workerStopping } from './sync-errors.ts'
import type { SyncMetrics } from './sync-metrics.ts'
import type { SyncJobData } from './sync-queues.ts'
import type { SyncStateRepository } from './sync-state-repository.ts'

export type Counts = SyncLog['counts']
export const ZERO_COUNTS: Counts = { fetched: 0, created: 0, updated: 0, unchanged: 0, deleted: 0, failed: 0 }
export const FINISHED_STATUSES: ReadonlySet<SyncLog['status']> = new Set(['succeeded', 'partial', 'failed', 'cancelled'])

export interface RunOutcome {
  status: SyncLog['status'] | 'skipped'
  syncLogId: string | null
  counts?: Counts
  reason?: string
  /** A webhook event's record: from the event's object, from a provider call, or not written (older than the stored one). */
  source?: 'event' | 'provider' | 'stale'
}

/** What `job.progress` carries while a run goes. */
export interface RunProgress extends Counts {
  pages: number
  /** Known for pushes; estimated from the previous full run for full pulls; null otherwise. */
  percent: number | null
}

export interface SyncRunnerDeps {
  db: Pick<Database, 'withTenant'>
  connectionContext: Pick<ConnectionContext, 'forSync' | 'onAuthFailure'>
  syncLogs: Pick<SyncLogRepository, 'update'>
  runs: SyncRunRepository
  state: SyncStateRepository
  records: RecordRepository
  gate: ProviderGate
  control: Pick<JobControl, 'lockRun' | 'clearCancel'>
  metrics: SyncMetrics
  logger: FastifyBaseLogger
  /** Records per provider page (adapter default when unset). */
  pageSize?: number
  /** Pages fetched ahead of the one being written (default 10), and never more records than one write takes. */
  readAhead?: number
  /** Pages waiting when a write starts go in with it, up to this many records (default 1,000). */
  maxRecordsPerWrite?: number
}

/**
 * Enough 100-record pages (Stripe's) to fill one write. Each write transaction has a fixed cost
 * (the run's position, checkpoint and sync-log update, the outbox row, the
 * commit, then job progress and the stop check in Redis); when the writer is the slower side, it
 * takes what is waiting, so a read-ahead of 4 pages held writes to 300-400 records (measured:
 * 180 writes of 314 on average for 56,500 records) and paid that cost three times as often as
 * 1,000-record writes. Larger pages are bounded by records instead (readAheadWeight), so
 * Mailchimp's or QuickBooks' 500-record pages do not buffer 5,000 records.
 */
export const DEFAULT_READ_AHEAD = 10
export const DEFAULT_MAX_RECORDS_PER_WRITE = 1_000

/** The read-ahead holds at most one write's worth of records (plus the page that crossed it). */
export const readAheadWeight = (maxRecords: number) => ({ max: maxRecords, of: (item: { page: { records: unknown[] } }) => Math.max(1, item.page.records.length) })

/**
 * The rows of one page ready to write, and the records that could not be prepared. `version`:
 * when their content was known to be current (see RecordInput).
 */
export function prepareRecords(records: CanonicalRecord[], mappings: FieldMapping[], version: string | null = null): { rows: RecordInput[]; failed: number } {
  const rows: RecordInput[] = []
  let failed = 0
  for (const record of records) {
    try {
      if (record.externalId === undefined || record.externalId === null || String(record.externalId) === '') throw new Error('record without an external id')
      const custom = mapCustomFields(record.raw, mappings)
      const data = custom ? { ...record.data, custom } : record.data
      const raw = record.raw ?? {}
      rows.push({ externalId: String(record.externalId), data, raw, hash: contentHash(data, raw), version })
    } catch {
      failed++
    }
  }
  return { rows, failed }
}

const addCounts = (a: Counts, b: Partial<Counts>): Counts => ({
  fetched: a.fetched + (b.fetched ?? 0),
  created: a.created + (b.created ?? 0),
  updated: a.updated + (b.updated ?? 0),
  unchanged: a.unchanged + (b.unchanged ?? 0),
  deleted: a.deleted + (b.deleted ?? 0),
  failed: a.failed + (b.failed ?? 0),
})

interface PreparedPage {
  page: ChangePage<EntityName>
  /** When the page was requested: its records (and deletions) were current at least then. */
  requestedAt: string
  prepared: { rows: RecordInput[]; failed: number }
}

export function createSyncRunner(deps: SyncRunnerDeps) {
  const { db, runs, state, records, gate, metrics } = deps
  const readAhead = deps.readAhead ?? DEFAULT_READ_AHEAD
  const maxRecordsPerWrite = deps.maxRecordsPerWrite ?? DEFAULT_MAX_RECORDS_PER_WRITE

  /** A scheduled tick carries no sync log yet: it opens one, or skips when a run is active. */
  async function openScheduledRun(job: Bull.Job<SyncJobData>): Promise<string | null> {
    const data = job.data
    try {
      const [log] = await db.withTenant(data.tenantId, (trx) =>
        runs.insertRuns(trx, [{ tenantId: data.tenantId, venueId: data.venueId, connectionId: data.connectionId, provider: data.provider, entity: data.entity, mode: data.mode, trigger: data.trigger, queue: job.queue.name, kind: 'pull' }]),
      )
      if (!log) return null
      // Retries and a successor after a crash must report into this same row.
      await job.update({ ...data, syncLogId: log.id })
      return log.id
    } catch (error) {
      if (isActiveRunConflict(error)) return null
      throw error
    }
  }

  async function run(job: Bull.Job<SyncJobData>, signal: RunSignal): Promise<RunOutcome> {
    const data = job.data
    const { tenantId, connectionId, entity } = data
    const syncLogId = data.syncLogId || (await openScheduledRun(job))
    if (!syncLogId) return { status: 'skipped', syncLogId: null, reason: 'a run of this connection and entity is already queued or running' }

    const log = await db.withTenant(tenantId, (trx) => runs.findRow(trx, syncLogId))
    if (!log) throw new SyncFailure('SYNC_LOG_NOT_FOUND', 'The sync log of this job no longer exists.', { disposition: 'stop', deadLetter: false })
    // The same job delivered again after it finished: nothing to do.
    if (FINISHED_STATUSES.has(log.status)) return { status: 'skipped', syncLogId, counts: log.counts, reason: `already ${log.status}` }

    const lock = await deps.control.lockRun(`${connectionId}:${entity}:pull`)
    try {
      return await runLocked(job, signal, syncLogId, lock.held)
    } finally {
      await lock.release()
    }
  }

  async function runLocked(job: Bull.Job<SyncJobData>, signal: RunSignal, syncLogId: string, lockHeld: () => boolean): Promise<RunOutcome> {
    const { tenantId, connectionId, entity } = job.data
    const connection: ConnectionForSync = await deps.connectionContext.forSync(tenantId, connectionId)
    const { adapter } = connection.binding
    const provider = connection.connection.provider
    if (!adapter.entities.includes(entity)) {
      throw new SyncFailure('ENTITY_NOT_SUPPORTED', `${provider} does not provide ${entity} records.`, { disposition: 'stop', deadLetter: false })
    }
    const scope: RecordScope = { tenantId, venueId: connection.connection.venue_id, connectionId, provider, entity }
    const target: GateTarget = { tenantId, connectionId, provider, scope: connection.connection.account_id ?? connectionId }

    const prep = await db.withTenant(tenantId, async (trx) => {
      const mappings = await loadFieldMappings(trx, provider, entity)
      const version = mappingVersion(mappings)
      let current = await state.lock(trx, { tenantId, connectionId, entity })
      const log = await runs.findRow(trx, syncLogId)
      if (!log) throw new SyncFailure('SYNC_LOG_NOT_FOUND', 'The sync log of this job no longer exists.', { disposition: 'stop', deadLetter: false })
      // Checked again under the run lock: a second delivery of the job that passed the check in
      // run() while the first was still working waited for the lock, and the run has ended since.
      if (FINISHED_STATUSES.has(log.status)) return { finished: log }
      const resuming = current.run_sync_log_id === syncLogId && current.run_started_at !== null
      let mode = log.mode
      if (!resuming) {
        // No cursor yet, or field mappings changed since the last run: only a full run is right.
        if (mode === 'incremental' && (current.cursor === null || current.mapping_version !== version)) {
          mode = 'full'
          await runs.setMode(trx, syncLogId, 'full')
        }
        current = await state.startRun(trx, connectionId, entity, syncLogId)
        // Housekeeping: notes left by a run that never finished (the sweep reads only its own run's).
        await records.forgetSeen(trx, scope)
      }
      await runs.markRunning(trx, syncLogId, { jobId: String(job.id), cursorBefore: current.cursor })
      const expected = mode === 'full' ? await records.countLive(trx, scope) : 0
      return {
        mappings,
        version,
        mode,
        resuming,
        startCursor: current.run_cursor ?? (mode === 'full' ? null : current.cursor),
        runCursor: current.run_cursor,
        previousCursor: current.cursor,
        runStartedAt: current.run_started_at ?? new Date(),
        counts: log.counts,
        expected,
      }
    })
    if (prep.finished) return { status: 'skipped', syncLogId, counts: prep.finished.counts, reason: `already ${prep.finished.status}` }
    if (prep.resuming) deps.logger.info({ syncLogId, connectionId, entity, counts: prep.counts }, 'resuming an interrupted run from its checkpoint')

    let counts: Counts = { ...prep.counts }
    let checkpoint = prep.startCursor
    // sync_state.run_cursor as this run last left it: the fence every write checks.
    let runCursor = prep.runCursor
    let finalCursor: string | null = null
    let pages = 0
    const seenBy = prep.mode === 'full' ? syncLogId : null

    const progress = async (done: boolean): Promise<void> => {
      const percent = done ? 100 : prep.expected > 0 ? Math.min(99, Math.floor((counts.fetched / prep.expected) * 100)) : null
      const value: RunProgress = { ...counts, pages, percent }
      await job.progress(value).catch(() => undefined)
    }

    /**
     * Writes pages fetched ahead in one transaction with the checkpoint of the last of them, so a
     * crash leaves either all of them in (and the checkpoint after them) or none.
     */
    const writePages = async (group: PreparedPage[]): Promise<void> => {
      const last = (group[group.length - 1] as PreparedPage).page
      const next = await db.withTenant(tenantId, async (trx) => {
        const at = await state.position(trx, connectionId, entity)
        if (!at || at.syncLogId !== syncLogId) throw runSuperseded()
        if (at.runCursor !== runCursor) {
          // These pages are in already: a retried step whose first commit landed though its
          // answer was lost, or another worker holding the run for a moment. The log has the counts.
          if (at.runCursor !== last.cursor) throw runSuperseded()
          const log = await runs.findRow(trx, syncLogId)
          return { after: log?.counts ?? counts, written: { created: 0, updated: 0, unchanged: 0 }, deleted: 0, failed: 0 }
        }
        const written = { created: 0, updated: 0, unchanged: 0 }
        let deleted = 0
        let fetched = 0
        let failed = 0
        // Records of consecutive pages go in one upsert; a page's deletions are applied after its
        // records and before any later page's, as page by page would.
        let rows: RecordInput[] = []
        const changed = { created: [] as string[], updated: [] as string[], deleted: [] as string[] }
        const flush = async (): Promise<void> => {
          const result = await records.upsertBatch(trx, scope, rows, seenBy)
          written.created += result.created
          written.updated += result.updated
          written.unchanged += result.unchanged
          changed.created.push(...result.ids.created)
          changed.updated.push(...result.ids.updated)
          rows = []
        }
        for (const { page, prepared, requestedAt } of group) {
          fetched += page.records.length
          failed += prepared.failed
          rows = rows.length === 0 ? prepared.rows : rows.concat(prepared.rows)
          if (page.deletedIds.length > 0) {
            await flush()
            const gone = await records.markDeleted(trx, scope, page.deletedIds, requestedAt)
            deleted += gone.length
            changed.deleted.push(...gone)
          }
        }
        if (rows.length > 0) await flush()
        const after = addCounts(counts, { fetched, ...written, deleted, failed })
        await state.checkpoint(trx, connectionId, entity, syncLogId, last.cursor)
        await deps.syncLogs.update(trx, syncLogId, { counts: after })
        await publishRecordsChanged(trx, { ...scope, syncLogId }, changed)
        return { after, written, deleted, failed }
      })
      metrics.records(provider, entity, { ...next.written, deleted: next.deleted, failed: next.failed })
      counts = next.after
      checkpoint = last.cursor
      runCursor = last.cursor
      pages += group.length
    }

    const pump = async (): Promise<void> => {
      const iterator = adapter.listChanges(connection.ctx, entity, { mode: prep.mode, cursor: checkpoint, ...(deps.pageSize ? { pageSize: deps.pageSize } : {}) })[Symbol.asyncIterator]()
      let more = true
      // Mapping and hashing happen on the fetching side, so they overlap the previous write too.
      const ahead = createReadAhead<PreparedPage>(
        async () => {
          if (!more) return null
          const requestedAt = new Date().toISOString()
          const step = await gate.call(target, () => iterator.next(), { stopReason: signal.stopReason, operation: `list ${entity}` })
          if (step.done) return null
          more = step.value.hasMore
          return { page: step.value, requestedAt, prepared: prepareRecords(step.value.records, prep.mappings, requestedAt) }
        },
        readAhead,
        readAheadWeight(maxRecordsPerWrite),
      )
      try {
        for (;;) {
          const first = await ahead.next()
          if (!first) {
            finalCursor = checkpoint
            return
          }
          // What the writer fell behind by goes in the same transaction, within a size bound.
          const group = [first]
          let size = first.page.records.length
          while (size < maxRecordsPerWrite && group.length < readAhead + 1) {
            const [extra] = ahead.ready(1)
            if (!extra) break
            group.push(extra)
            size += extra.page.records.length
          }
          await writePages(group)
          await progress(false)
          const last = (group[group.length - 1] as PreparedPage).page
          if (!last.hasMore) {
            finalCursor = last.cursor
            return
          }
          if (!lockHeld()) throw new SyncFailure('RUN_LOCK_LOST', 'The run lost its lock; another worker may have taken over.', { disposition: 'defer', retryAfterMs: 1_000 })
          const stop = await signal.refresh()
          if (stop) throw new RunInterrupted(stop)
        }
      } finally {
        ahead.stop()
      }
    }

    try {
      await gate.withRetries(pump, {
        stopReason: signal.stopReason,
        onAuthFailure: reauthOnFailure(deps.connectionContext, tenantId, connectionId, connection),
      })
    } catch (error) {
      if (!(error instanceof RunInterrupted)) throw error
      if (error.reason === 'shutdown') throw workerStopping()
      // Cancelled: what was written stays, and so does the checkpoint (sync_state.run_cursor and
      // the log's cursor_after) for anyone looking at where it stopped.
      await db.withTenant(tenantId, (trx) => deps.syncLogs.update(trx, syncLogId, { status: 'cancelled', finishedAt: new Date(), counts, cursorAfter: checkpoint }))
      await deps.control.clearCancel(String(job.id))
      return { status: 'cancelled', syncLogId, counts }
    }

    const cursor = finalCursor ?? prep.previousCursor
    const status: SyncLog['status'] = counts.failed > 0 ? 'partial' : 'succeeded'
    counts = await db.withTenant(tenantId, async (trx) => {
      const at = await state.position(trx, connectionId, entity)
      if (!at || at.syncLogId !== syncLogId || at.runCursor !== runCursor) throw runSuperseded()
      const sweptIds = prep.mode === 'full' ? await records.sweepUnseen(trx, scope, syncLogId, prep.runStartedAt) : []
      const swept = sweptIds.length
      await publishRecordsChanged(trx, { ...scope, syncLogId }, { deleted: sweptIds })
      const after = addCounts(counts, { deleted: swept })
      await state.finishRun(trx, connectionId, entity, { cursor, mappingVersion: prep.version, full: prep.mode === 'full' })
      const invalid = after.failed > 0 ? { errorCode: 'RECORDS_INVALID', errorMessage: `${after.failed} of ${after.fetched} records could not be stored (no id or unusable data).` } : { errorCode: null, errorMessage: null }
      await deps.syncLogs.update(trx, syncLogId, { status, finishedAt: new Date(), counts: after, cursorAfter: cursor, ...invalid })
      if (swept > 0) metrics.records(provider, entity, { deleted: swept })
      return after
    })
    await progress(true)
    return { status, syncLogId, counts }
  }

  return { run }
}

export type SyncRunner = ReturnType<typeof createSyncRunner>
