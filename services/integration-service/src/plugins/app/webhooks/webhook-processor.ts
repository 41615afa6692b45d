// Processing of one stored webhook event (critical queue). An event that carries the whole object
// (Stripe, Square: verified at intake) is the record as of the event's time, written without a
// provider call when that time is clearly later than the stored record's version, and dropped
// when clearly earlier (a late delivery). The provider is asked only for a thin event (one that
// names a record without carrying it), or when the order is in doubt (versions closer than the
// provider's precision, a record stored before versions were kept). The write is conditional on
// the version in SQL as well, so a write racing this one cannot be overwritten by older data.
// Then the inbox row marked processed, the write, and one finished sync-log row with its events,
// all in one transaction that first claims the inbox row (`processed_at` still null, under its
// row lock), so an event processed twice changes nothing the second time. Everything read
// beforehand (the inbox row, the connection, the stored version, the field mappings) is read in
// one transaction: each is a round trip, and round trips to Postgres are most of what an event
// costs (the write is eight: BEGIN with the scope, the claim, the erasure guard's lock and
// tombstones, the upsert, the sync log, its events, COMMIT).
import type Bull from 'bull'
import type { Database } from '@hub/service-kit'
import { ENTITIES, type CanonicalRecord, type EntityName } from '../../../providers/canonical.ts'
import type { WebhookSnapshot } from '../../../providers/provider-adapter.ts'
import { ProviderInvalidError } from '../../../providers/provider-errors.ts'
import type { ConnectionContext, ConnectionForSync } from '../connections/connection-context.ts'
import type { ConnectionRepository } from '../connections/connection-repository.ts'
import type { SyncRunRepository } from '../sync-logs/sync-log-repository.ts'
import { loadFieldMappings } from '../sync/field-mapping-repository.ts'
import type { GateTarget, ProviderGate } from '../sync/provider-gate.ts'
import { reauthOnFailure } from '../sync/provider-reauth.ts'
import type { RecordRepository, RecordScope } from '../sync/record-repository.ts'
import type { RunSignal } from '../sync/run-signal.ts'
import { prepareRecords, ZERO_COUNTS, type Counts, type RunOutcome } from '../sync/sync-runner.ts'
import { SyncFailure, scrubSecrets } from '../sync/sync-errors.ts'
import type { SyncMetrics } from '../sync/sync-metrics.ts'
import type { WebhookJobData } from '../sync/sync-queues.ts'
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

/** The record an event names, when it names one of the entities the hub keeps. */
function namedRecord(row: Pick<InboxRow, 'entity' | 'external_id'>): { entity: EntityName; externalId: string } | null {
  if (!row.entity || !(ENTITIES as readonly string[]).includes(row.entity) || !row.external_id) return null
  return { entity: row.entity as EntityName, externalId: row.external_id }
}

export function createWebhookProcessor(deps: {
  db: Pick<Database, 'withTenant'>
  connectionContext: Pick<ConnectionContext, 'forSync' | 'onAuthFailure'>
  runs: SyncRunRepository
  records: RecordRepository
  inbox: WebhookInboxRepository
  connections: Pick<ConnectionRepository, 'findById'>
  gate: ProviderGate
  metrics: SyncMetrics
}) {
  const { db, gate, records, runs, inbox } = deps

  async function markProcessed(tenantId: string, inboxId: string, lastError: string | null): Promise<void> {
    await db.withTenant(tenantId, (trx) => inbox.markProcessed(trx, inboxId, lastError, { onlyUnprocessed: true }))
  }

  async function process(job: Bull.Job<WebhookJobData>, signal: RunSignal): Promise<RunOutcome> {
    const { tenantId, connectionId, inboxId } = job.data
    const read = await db.withTenant(tenantId, async (trx) => {
      const row = await inbox.findForConnection(trx, inboxId, connectionId)
      const named = row && !row.processed_at ? namedRecord(row) : null
      const stored = named ? await deps.connections.findById(trx, connectionId) : undefined
      if (!named || !stored) return { row }
      return { row, stored, version: await records.versionOf(trx, { connectionId, entity: named.entity }, named.externalId), mappings: await loadFieldMappings(trx, stored.provider, named.entity) }
    })
    const row = read.row
    if (!row) throw new SyncFailure('WEBHOOK_EVENT_NOT_FOUND', 'The stored webhook event no longer exists.', { disposition: 'stop', deadLetter: false })
    if (row.processed_at) return { status: 'skipped', syncLogId: null, reason: 'already processed' }
    const named = namedRecord(row)
    if (!named) {
      // Events that name no record (account updates, pings) are only acknowledged.
      await markProcessed(tenantId, inboxId, null)
      return { status: 'skipped', syncLogId: null, reason: 'the event names no record' }
    }
    const { entity, externalId } = named

    // Without the connection row read above, forSync reads it (and refuses a connection that is gone).
    const connection: ConnectionForSync = await deps.connectionContext.forSync(tenantId, connectionId, read.stored)
    const provider = connection.connection.provider
    if (!connection.binding.adapter.entities.includes(entity)) {
      await markProcessed(tenantId, inboxId, null)
      return { status: 'skipped', syncLogId: null, reason: `${provider} does not sync ${entity}` }
    }
    const target: GateTarget = { tenantId, connectionId, provider, scope: connection.connection.account_id ?? connectionId }
    const scope: RecordScope = { tenantId, venueId: connection.connection.venue_id, connectionId, provider, entity }
    const startedAt = new Date()

    // The event's own object, when it has one for the record it names.
    const adapter = connection.binding.adapter
    const carried = adapter.recordFromEvent?.(row.payload) ?? null
    const snapshot = carried && carried.entity === entity && carried.externalId === externalId ? carried : null
    if (!read.mappings) throw new Error('the field mappings were not read with the connection')
    const mappings = read.mappings
    const judged = snapshot ? judgeSnapshot(snapshot, read.version) : 'ask'

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
    const prepared = fetched && source !== 'stale' ? prepareRecords([fetched], mappings, version) : { rows: [], failed: 0 }

    const lastError = invalid ? scrubSecrets(invalid.message) : null
    const outcome = await db.withTenant(tenantId, async (trx) => {
      // First, so that a second attempt at the same event waits here and then changes nothing.
      if (!(await inbox.claimForProcessing(trx, inboxId, lastError))) return null
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
          tenantId,
          venueId: scope.venueId,
          connectionId,
          provider,
          entity,
          mode: 'incremental',
          trigger: 'webhook',
          queue: job.queue.name,
          kind: 'webhook',
          status,
          jobId: String(job.id),
          startedAt,
          finishedAt: new Date(),
          counts,
          ...(invalid ? { errorCode: 'PROVIDER_INVALID', errorMessage: lastError } : {}),
        },
        (written) => recordsChangedEvents({ ...scope, syncLogId: written.id }, changed),
      )
      return { status, syncLogId: log.id, counts, source }
    })
    if (!outcome) return { status: 'skipped', syncLogId: null, reason: 'already processed' }
    deps.metrics.webhookSource(provider, outcome.source)
    deps.metrics.records(provider, entity, { created: outcome.counts.created, updated: outcome.counts.updated, unchanged: outcome.counts.unchanged, deleted: outcome.counts.deleted, failed: outcome.counts.failed })
    return outcome
  }

  /** After a failed attempt: the inbox row keeps count and the last (scrubbed) error. */
  async function recordAttempt(data: WebhookJobData, message: string): Promise<void> {
    await db.withTenant(data.tenantId, (trx) => inbox.recordAttempt(trx, data.inboxId, scrubSecrets(message))).catch(() => undefined)
  }

  return { process, recordAttempt }
}

export type WebhookProcessor = ReturnType<typeof createWebhookProcessor>
