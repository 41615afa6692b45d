// The reconciliation engine: one run of (connection, entity) pages through the provider with the
// sync's adapter, under the sync's provider gate (shared rate budget and circuit breaker), hashes
// each record exactly as the sync does (prepareRecords: field mappings, then contentHash) and
// compares it with the hub's copy. Each page's comparison commits with the run's checkpoint, so a
// crashed run resumes after its last page with nothing counted twice. A full run ends by listing
// live hub records the provider no longer has and comparing money totals per currency and day; a
// quick run only counts and totals, and on a difference escalates to a full run.
//
// Never against a sync half-way: the run holds the sync's own run lock of (connection, entity) for
// its whole walk (a sync waits, then defers without spending an attempt), and does not start while
// sync_state shows a sync run interrupted mid-way (its resumption would finish writing first).
import type { FastifyBaseLogger } from 'fastify'
import type { Knex } from 'knex'
import type { AuditActor, AuditOutbox, Database } from '@hub/service-kit'
import type { EntityName } from '../../../providers/canonical.ts'
import type { ChangePage } from '../../../providers/provider-adapter.ts'
import type { ConnectionContext, ConnectionForSync } from '../connections/connection-context.ts'
import { loadFieldMappings } from '../sync/field-mapping-repository.ts'
import type { JobControl } from '../sync/job-control.ts'
import { RunInterrupted, type GateTarget, type ProviderGate, type StopReason } from '../sync/provider-gate.ts'
import { reauthOnFailure } from '../sync/provider-reauth.ts'
import type { RecordInput, RecordRepository, RecordScope } from '../sync/record-repository.ts'
import { SyncFailure, runSuperseded, workerStopping } from '../sync/sync-errors.ts'
import { createReadAhead } from '../sync/read-ahead.ts'
import { DEFAULT_MAX_RECORDS_PER_WRITE, DEFAULT_READ_AHEAD, prepareRecords, readAheadWeight } from '../sync/sync-runner.ts'
import type { SyncStateRepository } from '../sync/sync-state-repository.ts'
import type { HubRecordsReader, Period } from './hub-records-reader.ts'
import type { ItemKind, NewItem, ReconciliationItemRepository } from './reconciliation-item-repository.ts'
import type { ReconciliationMetrics } from './reconciliation-metrics.ts'
import { addToTotals, bucketOf, diffTotals, inPeriod, isMoneyEntity } from './reconciliation-money.ts'
import { publishEvent } from '../events/event-outbox-repository.ts'
import { FINISHED_RUN_STATUSES, isActiveRunConflict, type ReconciliationRunRepository, type RunRow, type Totals } from './reconciliation-run-repository.ts'

export const SYSTEM_ACTOR = (tenantId: string): AuditActor => ({ tenantId, actorType: 'service', actorId: 'integration-worker', requestId: null, ip: null })

/** What a run reports while it goes (Bull job progress). */
export interface RunProgress {
  runId: string
  entity: EntityName
  pages: number
  providerCount: number
  mismatches: number
}

export interface EngineHooks {
  stopReason?: () => StopReason | null
  refreshStop?: () => Promise<StopReason | null>
  progress?: (progress: RunProgress) => Promise<void>
  jobId?: string | null
}

export interface RepairResult {
  runId: string
  attempted: number
  repaired: number
  stillDifferent: number
  failed: number
}

export interface ReconciliationEngineDeps {
  db: Pick<Database, 'withTenant'>
  connectionContext: Pick<ConnectionContext, 'forSync' | 'onAuthFailure'>
  gate: ProviderGate
  control: Pick<JobControl, 'lockRun'>
  state: Pick<SyncStateRepository, 'find'>
  records: Pick<RecordRepository, 'upsertBatch' | 'markDeleted'>
  runs: ReconciliationRunRepository
  items: ReconciliationItemRepository
  hub: HubRecordsReader
  audit: AuditOutbox
  metrics: ReconciliationMetrics
  logger: FastifyBaseLogger
  /** Records per provider page (adapter default when unset). */
  pageSize?: number
  /** How long a run waits for the sync lock before deferring (default 2 s). */
  lockWaitMs?: number
  /** Pages fetched and hashed ahead of the one being compared (default: the sync's). */
  readAhead?: number
  /** Pages waiting when a comparison starts go in with it, up to this many records (default: the sync's). */
  maxRecordsPerCompare?: number
}

interface PreparedPage {
  page: ChangePage<EntityName>
  rows: RecordInput[]
}

const mismatchesOf = (run: Pick<RunRow, 'missing_in_hub' | 'missing_at_provider' | 'changed' | 'amount_mismatch'>): number => run.missing_in_hub + run.missing_at_provider + run.changed + run.amount_mismatch

/** The audit image of a run: ids, counts and outcome; never record contents. */
export function runSummary(run: RunRow) {
  return {
    id: run.id,
    connectionId: run.connection_id,
    venueId: run.venue_id,
    provider: run.provider,
    entity: run.entity,
    mode: run.mode,
    trigger: run.trigger,
    status: run.status,
    providerCount: run.provider_count,
    hubCount: run.hub_count,
    mismatches: { missingInHub: run.missing_in_hub, missingAtProvider: run.missing_at_provider, changed: run.changed, amountMismatch: run.amount_mismatch },
    repaired: run.repaired,
    errorCode: run.error_code,
    durationMs: run.duration_ms,
  }
}

/**
 * The one place a run becomes finished, inside the transaction that finishes it: its audit event
 * and the `integration.reconciliation.completed` event on the outbox.
 */
export async function completeRun(trx: Knex.Transaction, run: RunRow, audit: AuditOutbox, actor: AuditActor = SYSTEM_ACTOR(run.tenant_id)): Promise<void> {
  const summary = runSummary(run)
  await audit.record(trx, { ...actor, action: 'reconciliation.run_completed', entityType: 'reconciliation_run', entityId: run.id, after: summary })
  if (!FINISHED_RUN_STATUSES.has(run.status)) throw new Error(`reconciliation run ${run.id} completed as ${run.status}`)
  const { id: runId, connectionId, venueId, ...rest } = summary
  await publishEvent(trx, {
    type: 'integration.reconciliation.completed',
    tenantId: run.tenant_id,
    venueId,
    connectionId,
    data: { runId, ...rest, status: run.status as 'clean' | 'drift' | 'failed' },
  })
}

/** The sync's run lock of (connection, entity), which a run holds for its whole walk. */
export const runLockName = (run: Pick<RunRow, 'connection_id' | 'entity'>): string => `${run.connection_id}:${run.entity}:pull`

const nullTotals = (from: Totals | null | undefined): Totals => Object.assign(Object.create(null) as Totals, from ?? {})

export function createReconciliationEngine(deps: ReconciliationEngineDeps) {
  const { db, runs, items, hub, gate, metrics } = deps
  const lockWaitMs = deps.lockWaitMs ?? 2_000
  const readAhead = deps.readAhead ?? DEFAULT_READ_AHEAD
  const maxRecordsPerCompare = deps.maxRecordsPerCompare ?? DEFAULT_MAX_RECORDS_PER_WRITE

  /** Runs (or resumes) one run to its end; a run already finished is returned as it is. */
  async function run(tenantId: string, runId: string, hooks: EngineHooks = {}): Promise<RunRow> {
    const found = await db.withTenant(tenantId, (trx) => runs.find(trx, runId))
    if (!found) throw new SyncFailure('RECONCILIATION_RUN_NOT_FOUND', 'The reconciliation run of this job no longer exists.', { disposition: 'stop', deadLetter: false })
    if (FINISHED_RUN_STATUSES.has(found.status)) return found
    // The sync's own lock: no sync of this (connection, entity) writes while the run compares.
    const lock = await deps.control.lockRun(runLockName(found), lockWaitMs)
    try {
      return await runLocked(tenantId, found, hooks, lock.held)
    } finally {
      await lock.release()
    }
  }

  async function runLocked(tenantId: string, initial: RunRow, hooks: EngineHooks, lockHeld: () => boolean): Promise<RunRow> {
    const { connection_id: connectionId, entity } = initial
    const connection: ConnectionForSync = await deps.connectionContext.forSync(tenantId, connectionId)
    const { adapter } = connection.binding
    if (!adapter.entities.includes(entity)) throw new SyncFailure('ENTITY_NOT_SUPPORTED', `${initial.provider} does not provide ${entity} records.`, { disposition: 'stop', deadLetter: false })
    const target: GateTarget = { tenantId, connectionId, provider: initial.provider, scope: connection.connection.account_id ?? connectionId }

    const prep = await db.withTenant(tenantId, async (trx) => {
      const sync = await deps.state.find(trx, connectionId, entity)
      if (sync?.run_sync_log_id) {
        throw new SyncFailure('SYNC_IN_PROGRESS', 'A sync of this connection and entity stopped half-way; reconciliation waits until it has finished.', { disposition: 'defer', retryAfterMs: 5_000, deadLetter: false })
      }
      const mappings = await loadFieldMappings(trx, initial.provider, entity)
      const row = await runs.lock(trx, initial.id)
      if (!row || FINISHED_RUN_STATUSES.has(row.status)) return { row, mappings, finished: true }
      return { row: await runs.markRunning(trx, initial.id, hooks.jobId ?? null), mappings, finished: false }
    })
    if (!prep.row) throw new SyncFailure('RECONCILIATION_RUN_NOT_FOUND', 'The reconciliation run of this job no longer exists.', { disposition: 'stop', deadLetter: false })
    if (prep.finished) return prep.row
    let current: RunRow = prep.row
    if (current.pages > 0) deps.logger.info({ runId: current.id, pages: current.pages }, 'resuming a reconciliation run from its checkpoint')
    const full = current.mode === 'full'
    const money = isMoneyEntity(entity)
    const period: Period = { from: current.period_from, to: current.period_to }
    const startedAt = current.started_at as Date

    const report = async (): Promise<void> => {
      await hooks.progress?.({ runId: current.id, entity, pages: current.pages, providerCount: current.provider_count, mismatches: mismatchesOf(current) }).catch(() => undefined)
    }

    /**
     * Compares pages fetched ahead (already hashed) and moves the checkpoint past the last of
     * them, in one transaction: a crash leaves all of them compared and counted, or none.
     */
    const compareGroup = async (group: PreparedPage[]): Promise<void> => {
      const last = (group[group.length - 1] as PreparedPage).page
      const rows = group.flatMap((prepared) => prepared.rows)
      current = await db.withTenant(tenantId, async (trx) => {
        const at = await runs.lock(trx, current.id)
        // Another delivery of the job moved the run on (or ended it): this one steps back.
        if (!at || at.status !== 'running' || at.cursor !== current.cursor) throw runSuperseded()
        const found: NewItem[] = []
        if (full) {
          const stored = await hub.byIds(
            trx,
            { connectionId, entity },
            rows.map((row) => row.externalId),
          )
          for (const row of rows) {
            const mine = stored.get(row.externalId)
            // Written since the run started (a webhook meanwhile): in flight, not drift.
            if (mine && mine.updated_at >= startedAt) continue
            if (!mine || mine.deleted_at) found.push({ kind: 'missing_in_hub', externalId: row.externalId, providerHash: row.hash, hubHash: mine?.content_hash ?? null })
            else if (mine.content_hash !== row.hash) found.push({ kind: 'changed', externalId: row.externalId, providerHash: row.hash, hubHash: mine.content_hash })
          }
          await runs.noteSeen(
            trx,
            at,
            rows.map((row) => row.externalId),
          )
        }
        const added = await items.insertMany(trx, at, found)
        const totals = nullTotals(at.provider_totals)
        if (money) {
          for (const row of rows) {
            const bucket = bucketOf(entity, row.data)
            if (bucket) addToTotals(totals, bucket)
          }
        }
        return runs.update(trx, at.id, {
          cursor: last.cursor,
          pages: at.pages + group.length,
          provider_count: at.provider_count + rows.length,
          ...(money ? { provider_totals: totals } : {}),
          missing_in_hub: at.missing_in_hub + added.missing_in_hub,
          changed: at.changed + added.changed,
        })
      })
      await report()
    }

    const pump = async (): Promise<void> => {
      const iterator = adapter.listChanges(connection.ctx, entity, { mode: 'full', cursor: current.cursor, ...(deps.pageSize ? { pageSize: deps.pageSize } : {}) })[Symbol.asyncIterator]()
      let more = true
      // Fetching, mapping and hashing run ahead of the comparison, as in the sync.
      const ahead = createReadAhead<PreparedPage>(
        async () => {
          if (!more) return null
          const step = await gate.call(target, () => iterator.next(), { ...(hooks.stopReason ? { stopReason: hooks.stopReason } : {}), operation: `reconcile ${entity}` })
          if (step.done) return null
          more = step.value.hasMore
          return {
            page: step.value,
            rows: prepareRecords(
              step.value.records.filter((record) => inPeriod(record.data, period)),
              prep.mappings,
            ).rows,
          }
        },
        readAhead,
        readAheadWeight(maxRecordsPerCompare),
      )
      try {
        for (;;) {
          const first = await ahead.next()
          if (!first) return
          const group = [first]
          let size = first.rows.length
          while (size < maxRecordsPerCompare && group.length < readAhead + 1) {
            const [extra] = ahead.ready(1)
            if (!extra) break
            group.push(extra)
            size += extra.rows.length
          }
          await compareGroup(group)
          if (!(group[group.length - 1] as PreparedPage).page.hasMore) return
          if (!lockHeld()) throw new SyncFailure('RUN_LOCK_LOST', 'The run lost its lock; another worker may have taken over.', { disposition: 'defer', retryAfterMs: 1_000 })
          const stop = hooks.refreshStop ? await hooks.refreshStop() : null
          if (stop) throw new RunInterrupted(stop)
        }
      } finally {
        ahead.stop()
      }
    }

    try {
      await gate.withRetries(pump, { stopReason: hooks.stopReason ?? (() => null), onAuthFailure: reauthOnFailure(deps.connectionContext, tenantId, connectionId, connection) })
    } catch (error) {
      if (error instanceof RunInterrupted && error.reason === 'shutdown') throw workerStopping()
      if (error instanceof RunInterrupted) throw new SyncFailure('RECONCILIATION_CANCELLED', 'The reconciliation job was cancelled.', { disposition: 'stop', deadLetter: false })
      throw error
    }

    const finished = await db.withTenant(tenantId, async (trx) => {
      const at = await runs.lock(trx, current.id)
      if (!at || at.status !== 'running' || at.cursor !== current.cursor) throw runSuperseded()
      const side = await hub.countsAndTotals(trx, { connectionId, entity, period })
      const amounts = money ? diffTotals(nullTotals(at.provider_totals), side.totals) : []
      let added: Record<ItemKind, number> = { missing_in_hub: 0, missing_at_provider: 0, changed: 0, amount_mismatch: 0 }
      let escalatedRunId: string | null = null
      let drift: boolean
      if (full) {
        const unseen = await hub.unseenLive(trx, { connectionId, entity, runId: at.id, startedAt, period })
        const found: NewItem[] = unseen.map((row) => ({ kind: 'missing_at_provider', externalId: row.external_id, hubHash: row.content_hash }))
        for (const bucket of amounts) {
          found.push({ kind: 'amount_mismatch', currency: bucket.currency, day: bucket.day, providerCount: bucket.provider.count, hubCount: bucket.hub.count, providerAmount: bucket.provider.amount, hubAmount: bucket.hub.amount })
        }
        added = await items.insertMany(trx, at, found)
        await runs.forgetSeen(trx, at.id)
        drift = mismatchesOf(at) + added.missing_at_provider + added.amount_mismatch > 0
      } else {
        drift = at.provider_count !== side.count || amounts.length > 0
        if (drift) escalatedRunId = await escalate(trx, at)
      }
      const done = await runs.finish(trx, at.id, {
        status: drift ? 'drift' : 'clean',
        hub_count: side.count,
        hub_totals: side.totals,
        missing_at_provider: at.missing_at_provider + added.missing_at_provider,
        amount_mismatch: at.amount_mismatch + added.amount_mismatch,
        escalated_run_id: escalatedRunId,
      })
      await completeRun(trx, done, deps.audit)
      return done
    })
    metrics.runFinished(finished)
    await report()
    return finished
  }

  /** A quick check that found a difference asks for a full run (once per quick run). */
  async function escalate(trx: Knex.Transaction, quick: RunRow): Promise<string | null> {
    try {
      const full = await trx.transaction((sp) =>
        runs.insert(sp, {
          tenantId: quick.tenant_id,
          venueId: quick.venue_id,
          connectionId: quick.connection_id,
          provider: quick.provider,
          entity: quick.entity,
          mode: 'full',
          trigger: 'escalation',
          jobKey: `escalate:${quick.id}`,
          periodFrom: quick.period_from,
          periodTo: quick.period_to,
        }),
      )
      return full.id
    } catch (error) {
      // A full run of this entity is already queued or running: it will tell.
      if (isActiveRunConflict(error)) return null
      throw error
    }
  }

  /** Marks a run that cannot go on as failed (its last word, audited like any finished run). */
  async function fail(tenantId: string, runId: string, code: string, message: string): Promise<RunRow | null> {
    const done = await db.withTenant(tenantId, async (trx) => {
      const at = await runs.lock(trx, runId)
      if (!at || FINISHED_RUN_STATUSES.has(at.status)) return null
      if (at.mode === 'full') await runs.forgetSeen(trx, runId)
      const row = await runs.finish(trx, runId, { status: 'failed', error_code: code, error_message: message })
      await completeRun(trx, row, deps.audit)
      return row
    })
    if (done) metrics.runFinished(done)
    return done
  }

  /** A run whose attempt will be retried goes back to queued, with the reason it stopped. */
  async function requeue(tenantId: string, runId: string, code: string, message: string): Promise<void> {
    await db.withTenant(tenantId, async (trx) => {
      const at = await runs.lock(trx, runId)
      if (!at || FINISHED_RUN_STATUSES.has(at.status)) return
      await runs.update(trx, runId, { status: 'queued', error_code: code, error_message: message })
    })
  }

  /**
   * Repairs a finished run's mismatches: re-fetches exactly those ids through the adapter (under
   * the gate and the sync's lock), writes them through the sync's own write path (or marks them
   * deleted as the sync does when the provider no longer has them), re-checks each against what
   * was fetched and records the outcome per item; money buckets are re-checked after the records.
   */
  async function repair(tenantId: string, runId: string, actor: AuditActor): Promise<RepairResult> {
    const found = await db.withTenant(tenantId, (trx) => runs.find(trx, runId))
    if (!found) throw new SyncFailure('RECONCILIATION_RUN_NOT_FOUND', 'No reconciliation run with this id.', { disposition: 'stop', deadLetter: false })
    const lock = await deps.control.lockRun(runLockName(found), lockWaitMs)
    try {
      const connection = await deps.connectionContext.forSync(tenantId, found.connection_id)
      const { adapter } = connection.binding
      const target: GateTarget = { tenantId, connectionId: found.connection_id, provider: found.provider, scope: connection.connection.account_id ?? found.connection_id }
      const scope: RecordScope = { tenantId, venueId: found.venue_id, connectionId: found.connection_id, provider: found.provider, entity: found.entity }
      const { mappings, pending } = await db.withTenant(tenantId, async (trx) => ({ mappings: await loadFieldMappings(trx, found.provider, found.entity), pending: await items.unrepaired(trx, runId, 100_000) }))
      const result: RepairResult = { runId, attempted: pending.length, repaired: 0, stillDifferent: 0, failed: 0 }
      const onAuthFailure = reauthOnFailure(deps.connectionContext, tenantId, found.connection_id, connection)

      for (const item of pending) {
        if (item.kind === 'amount_mismatch' || !item.external_id) continue
        const externalId = item.external_id
        let status: 'repaired' | 'still_different' | 'failed'
        try {
          const fresh = await gate.withRetries(() => gate.call(target, () => adapter.fetchOne(connection.ctx, found.entity, externalId), { operation: `fetch ${found.entity}` }), { stopReason: () => null, onAuthFailure })
          status = await db.withTenant(tenantId, async (trx) => {
            if (!fresh) {
              await deps.records.markDeleted(trx, scope, [externalId])
              const after = (await hub.byIds(trx, scope, [externalId])).get(externalId)
              return !after || after.deleted_at ? 'repaired' : 'still_different'
            }
            const { rows } = prepareRecords([fresh], mappings)
            const row = rows[0]
            if (!row) return 'failed'
            await deps.records.upsertBatch(trx, scope, rows, null)
            const after = (await hub.byIds(trx, scope, [externalId])).get(externalId)
            return after && !after.deleted_at && after.content_hash === row.hash ? 'repaired' : 'still_different'
          })
        } catch (error) {
          deps.logger.warn({ runId, kind: item.kind, code: (error as { code?: unknown }).code }, 'could not repair a reconciliation item')
          status = 'failed'
        }
        await db.withTenant(tenantId, (trx) => items.markRepair(trx, [item.id], status))
        tally(result, status)
      }

      const amounts = pending.filter((item) => item.kind === 'amount_mismatch')
      const finished = await db.withTenant(tenantId, async (trx) => {
        if (amounts.length > 0) {
          const side = await hub.countsAndTotals(trx, { connectionId: found.connection_id, entity: found.entity, period: { from: found.period_from, to: found.period_to } })
          for (const item of amounts) {
            const bucket = side.totals[item.key]
            const status = bucket && bucket.count === item.provider_count && bucket.amount === Number(item.provider_amount) ? 'repaired' : item.provider_count === 0 && !bucket ? 'repaired' : 'still_different'
            await items.markRepair(trx, [item.id], status)
            tally(result, status)
          }
        }
        const { repaired } = await items.countRepaired(trx, runId)
        const row = await runs.update(trx, runId, { repaired, repaired_at: new Date() })
        await deps.audit.record(trx, { ...actor, action: 'reconciliation.repaired', entityType: 'reconciliation_run', entityId: runId, after: { ...result, run: runSummary(row) } })
        return row
      })
      metrics.repaired(finished, result)
      return result
    } finally {
      await lock.release()
    }
  }

  function tally(result: RepairResult, status: 'repaired' | 'still_different' | 'failed'): void {
    if (status === 'repaired') result.repaired++
    else if (status === 'still_different') result.stillDifferent++
    else result.failed++
  }

  return { run, fail, requeue, repair }
}

export type ReconciliationEngine = ReturnType<typeof createReconciliationEngine>
