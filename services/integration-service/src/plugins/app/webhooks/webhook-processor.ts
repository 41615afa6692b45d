// Processing of one stored webhook event (critical queue). An event that carries the whole object
// (Stripe, Square: verified at intake) is the record as of the event's time, written without a
// provider call when that time is clearly later than the stored record's version, and dropped
// when clearly earlier (a late delivery). The provider is asked only for a thin event (one that
// names a record without carrying it), or when the order is in doubt (versions closer than the
// provider's precision, a record stored before versions were kept). The write is conditional on
// the version in SQL as well, so a write racing this one cannot be overwritten by older data.
// Round trips to Postgres are most of what an event costs, so the common case (an event carrying
// its object, clearly ordered against the stored record) is one transaction: the inbox row claimed
// (marked processed unless it already is, under its row lock, so a second attempt at the same
// event waits and then changes nothing), the connection and the stored version read, the record
// written, and one finished sync-log row with its events. Anything else rolls that back and takes
// the general path: one transaction reads, the provider is asked outside any transaction, and a
// second one claims the row and writes. (Thin providers' events pay the rolled-back claim too:
// three round trips beside the provider call they need anyway.)
import type Bull from 'bull'
import type { Knex } from 'knex'
import type { Database } from '@hub/service-kit'
import { ENTITIES, type CanonicalRecord, type EntityName } from '../../../providers/canonical.ts'
import type { WebhookSnapshot } from '../../../providers/provider-adapter.ts'
import { ProviderInvalidError } from '../../../providers/provider-errors.ts'
import type { ConnectionContext, ConnectionForSync } from '../connections/connection-context.ts'
import type { SyncRunRepository } from '../sync-logs/sync-log-repository.ts'
import type { FieldMapping } from '../sync/field-mapping.ts'
import type { GateTarget, ProviderGate } from '../sync/provider-gate.ts'
import { reauthOnFailure } from '../sync/provider-reauth.ts'
import type { RecordRepository, RecordScope } from '../sync/record-repository.ts'
import type { RunSignal } from '../sync/run-signal.ts'
import { prepareRecords, ZERO_COUNTS, type Counts, type RunOutcome } from '../sync/sync-runner.ts'
import { SyncFailure, scrubSecrets } from '../sync/sync-errors.ts'
import type { SyncMetrics } from '../sync/sync-metrics.ts'
import type { WebhookJobData } from '../sync/sync-queues.ts'
import { readEventContext } from './webhook-event-context.ts'
import type { InboxRow, WebhookInboxRepository } from './webhook-inbox-repository.ts'
import { recordsChangedEvents, type ChangedIds } from '../events/run-events.ts'

/**
 * Whether an event's own object may be written: `apply` when its version is at least one unit
 * of the provider's precision after the stored one (or nothing is stored), `stale` when as
 * clearly before, `ask` (the provider) when they cannot be ordered or the stored one has none.
 */
export function judgeSnapshot(snapshot: Pick<WebhookSnapshot, 'version' | 'precisionMs'>, stored: { version: Date | null } | undefined): 'apply' | 'stale' | 'ask' {
  if (!stored) return 'apply'
  if (!stored.version) return 'ask'
  const ahead = Date.parse(snapshot.version) - stored.version.getTime()
  if (ahead >= snapshot.precisionMs) return 'apply'
  if (ahead <= -snapshot.precisionMs) return 'stale'
  return 'ask'
}

/** Thrown inside the one-transaction path to roll it back and take the general one. */
const GENERAL_PATH = new Error('the event needs the general path')

/** The record an event names, when it names one of the entities the hub keeps. */
function namedRecord(row: Pick<InboxRow, 'entity' | 'external_id'>): { entity: EntityName; externalId: string } | null {
  if (!row.entity || !(ENTITIES as readonly string[]).includes(row.entity) || !row.external_id) return null
  return { entity: row.entity as EntityName, externalId: row.external_id }
}

export function createWebhookProcessor(deps: {
  db: Pick<Database, 'withTenant'>
  connectionContext: Pick<ConnectionContext, 'forSync' | 'onAuthFailure' | 'bindingFor'>
  runs: SyncRunRepository
  records: RecordRepository
  inbox: WebhookInboxRepository
  gate: ProviderGate
  metrics: SyncMetrics
}) {
  const { db, gate, records, runs, inbox } = deps

  /** An event with nothing to write is done: claimed, unless another attempt already did. */
  async function markProcessed(tenantId: string, inboxId: string): Promise<void> {
    await db.withTenant(tenantId, (trx) => inbox.claim(trx, inboxId, { lastError: null }))
  }

  interface Judged {
    scope: RecordScope
    externalId: string
    fetched: CanonicalRecord | null
    invalid: ProviderInvalidError | null
    version: string | null
    source: NonNullable<RunOutcome['source']>
    mappings: FieldMapping[]
  }

  /** The write of a claimed event: the record, and one finished sync-log row with its events. */
  async function write(trx: Knex.Transaction, job: Bull.Job<WebhookJobData>, startedAt: Date, judged: Judged) {
    const { scope, externalId, fetched, invalid, version, source } = judged
    const prepared = fetched && source !== 'stale' ? prepareRecords([fetched], judged.mappings, version) : { rows: [], failed: 0 }
    let counts: Counts = { ...ZERO_COUNTS, fetched: fetched ? 1 : 0, failed: prepared.failed + (invalid ? 1 : 0) }
    let changed: ChangedIds = {}
    if (source === 'stale') {
      // Older than what is stored: nothing to write.
      counts.unchanged = 1
    } else if (fetched && prepared.rows.length > 0) {
      const { ids, ...written } = await records.upsertBatch(trx, scope, prepared.rows, null)
      counts = { ...counts, ...written }
      changed = ids
    } else if (!fetched && !invalid) {
      // A deletion event, or gone at the provider (deleted since): unless stored newer.
      const deleted = await records.markDeleted(trx, scope, [externalId], version)
      counts.deleted = deleted.length
      changed = { deleted }
    }
    const status: 'failed' | 'succeeded' = counts.failed > 0 ? 'failed' : 'succeeded'
    // The run starts and ends here: one row and one insert of its events (started, what the
    // write changed, completed or failed).
    const log = await runs.insertFinishedRun(
      trx,
      {
        tenantId: scope.tenantId,
        venueId: scope.venueId,
        connectionId: scope.connectionId,
        provider: scope.provider,
        entity: scope.entity,
        mode: 'incremental',
        trigger: 'webhook',
        queue: job.queue.name,
        kind: 'webhook',
        status,
        jobId: String(job.id),
        startedAt,
        finishedAt: new Date(),
        counts,
        ...(invalid ? { errorCode: 'PROVIDER_INVALID', errorMessage: scrubSecrets(invalid.message) } : {}),
      },
      (syncLogId) => recordsChangedEvents({ ...scope, syncLogId }, changed),
    )
    return { status, syncLogId: log.id, counts, source }
  }

  /**
   * The common case in one transaction: the event claimed, judged against the stored version and
   * written, without credentials or a provider call (its own object decides). Anything else (a
   * thin event, an order in doubt, a connection not active, an entity it does not sync, an event
   * already claimed) rolls back and returns null for the general path, which reads, asks the
   * provider when it must, and writes in a transaction of its own.
   */
  async function processFromEvent(job: Bull.Job<WebhookJobData>, startedAt: Date): Promise<RunOutcome | null> {
    const { tenantId, connectionId, inboxId } = job.data
    try {
      const done = await db.withTenant(tenantId, async (trx): Promise<{ outcome: RunOutcome; scope?: RecordScope }> => {
        const row = await inbox.claim(trx, inboxId, { connectionId, lastError: null })
        if (!row) throw GENERAL_PATH
        const named = namedRecord(row)
        // Events that name no record (account updates, pings) are only acknowledged: the claim did that.
        if (!named) return { outcome: { status: 'skipped', syncLogId: null, reason: 'the event names no record' } }
        const read = await readEventContext(trx, { connectionId, ...named })
        const connection = read?.connection
        const binding = connection ? deps.connectionContext.bindingFor(connection) : null
        if (!read || !connection || !binding || !binding.adapter.entities.includes(named.entity)) throw GENERAL_PATH
        const carried = binding.adapter.recordFromEvent?.(row.payload) ?? null
        const snapshot = carried && carried.entity === named.entity && carried.externalId === named.externalId ? carried : null
        if (!snapshot) throw GENERAL_PATH
        const judged = judgeSnapshot(snapshot, read.stored)
        if (judged === 'ask') throw GENERAL_PATH
        const scope: RecordScope = { tenantId, venueId: connection.venue_id, connectionId, provider: connection.provider, entity: named.entity }
        const outcome = await write(trx, job, startedAt, {
          scope,
          externalId: named.externalId,
          fetched: snapshot.record,
          invalid: null,
          version: snapshot.version,
          source: judged === 'stale' ? 'stale' : 'event',
          mappings: read.mappings,
        })
        return { outcome, scope }
      })
      if (done.scope) counted(done.scope, done.outcome)
      return done.outcome
    } catch (error) {
      if (error === GENERAL_PATH) return null
      throw error
    }
  }

  /** Reads, asks the provider when it must (thin events, an order in doubt), then writes. */
  async function processGenerally(job: Bull.Job<WebhookJobData>, signal: RunSignal, startedAt: Date): Promise<RunOutcome> {
    const { tenantId, connectionId, inboxId } = job.data
    const read = await db.withTenant(tenantId, async (trx) => {
      const row = await inbox.findForConnection(trx, inboxId, connectionId)
      const named = row && !row.processed_at ? namedRecord(row) : null
      return { row, context: named ? await readEventContext(trx, { connectionId, ...named }) : null }
    })
    const row = read.row
    if (!row) throw new SyncFailure('WEBHOOK_EVENT_NOT_FOUND', 'The stored webhook event no longer exists.', { disposition: 'stop', deadLetter: false })
    if (row.processed_at) return { status: 'skipped', syncLogId: null, reason: 'already processed' }
    const named = namedRecord(row)
    if (!named) {
      // Events that name no record (account updates, pings) are only acknowledged.
      await markProcessed(tenantId, inboxId)
      return { status: 'skipped', syncLogId: null, reason: 'the event names no record' }
    }
    const { entity, externalId } = named

    // Without the connection row read above, forSync reads it (and refuses a connection that is gone).
    const connection: ConnectionForSync = await deps.connectionContext.forSync(tenantId, connectionId, read.context?.connection)
    const provider = connection.connection.provider
    if (!connection.binding.adapter.entities.includes(entity)) {
      await markProcessed(tenantId, inboxId)
      return { status: 'skipped', syncLogId: null, reason: `${provider} does not sync ${entity}` }
    }
    const target: GateTarget = { tenantId, connectionId, provider, scope: connection.connection.account_id ?? connectionId }
    const scope: RecordScope = { tenantId, venueId: connection.connection.venue_id, connectionId, provider, entity }

    // The event's own object, when it has one for the record it names.
    const adapter = connection.binding.adapter
    const carried = adapter.recordFromEvent?.(row.payload) ?? null
    const snapshot = carried && carried.entity === entity && carried.externalId === externalId ? carried : null
    if (!read.context) throw new Error('the field mappings were not read with the connection')
    const judged = snapshot ? judgeSnapshot(snapshot, read.context.stored) : 'ask'

    let fetched: CanonicalRecord | null = null
    let invalid: ProviderInvalidError | null = null
    let version: string | null = null
    if (snapshot && judged !== 'ask') {
      fetched = snapshot.record
      version = snapshot.version
    } else {
      // Current at least as of the call: the version of what it returns (or of its absence).
      version = new Date().toISOString()
      try {
        fetched = await gate.withRetries(() => gate.call(target, () => adapter.fetchOne(connection.ctx, entity, externalId), { stopReason: signal.stopReason, operation: `fetch ${entity}` }), {
          stopReason: signal.stopReason,
          onAuthFailure: reauthOnFailure(deps.connectionContext, tenantId, connectionId, connection),
        })
      } catch (error) {
        // The provider refused this one record: it fails, the event is done (retrying cannot help).
        if (!(error instanceof ProviderInvalidError)) throw error
        invalid = error
      }
    }
    const source: NonNullable<RunOutcome['source']> = judged === 'stale' ? 'stale' : snapshot && judged === 'apply' ? 'event' : 'provider'
    const mappings = read.context.mappings
    const outcome = await db.withTenant(tenantId, async (trx) => {
      // First, so that a second attempt at the same event waits here and then changes nothing.
      if (!(await inbox.claim(trx, inboxId, { lastError: invalid ? scrubSecrets(invalid.message) : null }))) return null
      return write(trx, job, startedAt, { scope, externalId, fetched, invalid, version, source, mappings })
    })
    if (!outcome) return { status: 'skipped', syncLogId: null, reason: 'already processed' }
    counted(scope, outcome)
    return outcome
  }

  function counted(scope: RecordScope, outcome: RunOutcome): void {
    const { counts, source } = outcome
    if (!counts || !source) return
    deps.metrics.webhookSource(scope.provider, source)
    deps.metrics.records(scope.provider, scope.entity, { created: counts.created, updated: counts.updated, unchanged: counts.unchanged, deleted: counts.deleted, failed: counts.failed })
  }

  async function process(job: Bull.Job<WebhookJobData>, signal: RunSignal): Promise<RunOutcome> {
    const startedAt = new Date()
    return (await processFromEvent(job, startedAt)) ?? processGenerally(job, signal, startedAt)
  }

  /** After a failed attempt: the inbox row keeps count and the last (scrubbed) error. */
  async function recordAttempt(data: WebhookJobData, message: string): Promise<void> {
    await db.withTenant(data.tenantId, (trx) => inbox.recordAttempt(trx, data.inboxId, scrubSecrets(message))).catch(() => undefined)
  }

  return { process, recordAttempt }
}

export type WebhookProcessor = ReturnType<typeof createWebhookProcessor>
