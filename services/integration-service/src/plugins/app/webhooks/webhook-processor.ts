// Processing of one stored webhook event (critical queue): fetch the record it names from the
// provider (a webhook body is a hint, not the truth), then upsert it or apply its deletion, write
// a sync log row and mark the inbox row processed, all in one transaction that first re-checks
// `processed_at` under a row lock, so an event processed twice changes nothing the second time.
import type Bull from 'bull'
import type { SyncLog } from '@hub/contracts'
import type { Database } from '@hub/service-kit'
import { ENTITIES, type CanonicalRecord, type EntityName } from '../../../providers/canonical.ts'
import { ProviderInvalidError } from '../../../providers/provider-errors.ts'
import type { ConnectionContext, ConnectionForSync } from '../connections/connection-context.ts'
import type { SyncLogRepository, SyncRunRepository } from '../sync-logs/sync-log-repository.ts'
import { loadFieldMappings } from '../sync/field-mapping-repository.ts'
import type { GateTarget, ProviderGate } from '../sync/provider-gate.ts'
import { reauthOnFailure } from '../sync/provider-reauth.ts'
import type { RecordRepository, RecordScope } from '../sync/record-repository.ts'
import type { RunSignal } from '../sync/run-signal.ts'
import { prepareRecords, ZERO_COUNTS, type Counts, type RunOutcome } from '../sync/sync-runner.ts'
import { SyncFailure, scrubSecrets } from '../sync/sync-errors.ts'
import type { SyncMetrics } from '../sync/sync-metrics.ts'
import type { WebhookJobData } from '../sync/sync-queues.ts'
import type { WebhookInboxRepository } from './webhook-inbox-repository.ts'
import { publishRecordsChanged, type ChangedIds } from '../events/run-events.ts'

export function createWebhookProcessor(deps: {
  db: Pick<Database, 'withTenant'>
  connectionContext: Pick<ConnectionContext, 'forSync' | 'onAuthFailure'>
  syncLogs: Pick<SyncLogRepository, 'update'>
  runs: SyncRunRepository
  records: RecordRepository
  inbox: WebhookInboxRepository
  gate: ProviderGate
  metrics: SyncMetrics
}) {
  const { db, gate, records, runs, inbox } = deps

  async function markProcessed(tenantId: string, inboxId: string, lastError: string | null): Promise<void> {
    await db.withTenant(tenantId, (trx) => inbox.markProcessed(trx, inboxId, lastError, { onlyUnprocessed: true }))
  }

  async function process(job: Bull.Job<WebhookJobData>, signal: RunSignal): Promise<RunOutcome> {
    const { tenantId, connectionId, inboxId } = job.data
    const row = await db.withTenant(tenantId, (trx) => inbox.findForConnection(trx, inboxId, connectionId))
    if (!row) throw new SyncFailure('WEBHOOK_EVENT_NOT_FOUND', 'The stored webhook event no longer exists.', { disposition: 'stop', deadLetter: false })
    if (row.processed_at) return { status: 'skipped', syncLogId: null, reason: 'already processed' }
    const entity = row.entity as EntityName | null
    if (!entity || !(ENTITIES as readonly string[]).includes(entity) || !row.external_id) {
      // Events that name no record (account updates, pings) are only acknowledged.
      await markProcessed(tenantId, inboxId, null)
      return { status: 'skipped', syncLogId: null, reason: 'the event names no record' }
    }
    const externalId = row.external_id

    const connection: ConnectionForSync = await deps.connectionContext.forSync(tenantId, connectionId)
    const provider = connection.connection.provider
    if (!connection.binding.adapter.entities.includes(entity)) {
      await markProcessed(tenantId, inboxId, null)
      return { status: 'skipped', syncLogId: null, reason: `${provider} does not sync ${entity}` }
    }
    const target: GateTarget = { tenantId, connectionId, provider, scope: connection.connection.account_id ?? connectionId }
    const scope: RecordScope = { tenantId, venueId: connection.connection.venue_id, connectionId, provider, entity }
    const startedAt = new Date()

    let fetched: CanonicalRecord | null = null
    let invalid: ProviderInvalidError | null = null
    try {
      fetched = await gate.withRetries(() => gate.call(target, () => connection.binding.adapter.fetchOne(connection.ctx, entity, externalId), { stopReason: signal.stopReason, operation: `fetch ${entity}` }), {
        stopReason: signal.stopReason,
        onAuthFailure: reauthOnFailure(deps.connectionContext, tenantId, connectionId, connection),
      })
    } catch (error) {
      // The provider refused this one record: it fails, the event is done (retrying cannot help).
      if (!(error instanceof ProviderInvalidError)) throw error
      invalid = error
    }

    const mappings = fetched ? await db.withTenant(tenantId, (trx) => loadFieldMappings(trx, provider, entity)) : []
    const prepared = fetched ? prepareRecords([fetched], mappings) : { rows: [], failed: 0 }

    const outcome = await db.withTenant(tenantId, async (trx) => {
      const locked = await inbox.findForUpdate(trx, inboxId)
      if (!locked || locked.processed_at) return null
      let counts: Counts = { ...ZERO_COUNTS, fetched: fetched ? 1 : 0, failed: prepared.failed + (invalid ? 1 : 0) }
      let changed: ChangedIds = {}
      if (fetched && prepared.rows.length > 0) {
        const { ids, ...written } = await records.upsertBatch(trx, scope, prepared.rows, null)
        counts = { ...counts, ...written }
        changed = ids
      } else if (!fetched && !invalid) {
        // Gone at the provider: the event was a deletion (or the record was deleted since).
        const deleted = await records.markDeleted(trx, scope, [externalId])
        counts.deleted = deleted.length
        changed = { deleted }
      }
      const [log] = await runs.insertRuns(trx, [{ tenantId, venueId: scope.venueId, connectionId, provider, entity, mode: 'incremental', trigger: 'webhook', queue: job.queue.name, kind: 'webhook', status: 'running' }])
      if (!log) throw new Error('sync log insert returned nothing')
      await publishRecordsChanged(trx, { ...scope, syncLogId: log.id }, changed)
      const status: SyncLog['status'] = counts.failed > 0 ? 'failed' : 'succeeded'
      await deps.syncLogs.update(trx, log.id, {
        status,
        jobId: String(job.id),
        startedAt,
        finishedAt: new Date(),
        counts,
        ...(invalid ? { errorCode: 'PROVIDER_INVALID', errorMessage: scrubSecrets(invalid.message) } : {}),
      })
      await inbox.markProcessed(trx, inboxId, invalid ? scrubSecrets(invalid.message) : null)
      return { status, syncLogId: log.id, counts }
    })
    if (!outcome) return { status: 'skipped', syncLogId: null, reason: 'already processed' }
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
