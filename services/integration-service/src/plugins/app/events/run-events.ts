// The events of sync runs, built from what the run's writers already hold: the sync-log row at a
// status change, and the provider ids a write created, updated or deleted.
import type { Knex } from 'knex'
import { RECORDS_CHANGED_MAX_IDS, syncLogCountsFromRow, type HubEventData, type SyncLog, type SyncLogRow } from '@hub/contracts'
import { publishEvent } from './event-outbox-repository.ts'

/** A sync-log row as its writers hold it (the queue and job id are not the events' business), with the run's kind. */
export interface RunRow extends Omit<SyncLogRow, 'queue' | 'job_id'> {
  kind: 'pull' | 'push' | 'webhook'
}

const runFields = (row: RunRow) => ({ syncLogId: row.id, provider: row.provider, entity: row.entity, kind: row.kind, mode: row.mode, trigger: row.trigger })
const scope = (row: RunRow) => ({ tenantId: row.tenant_id, venueId: row.venue_id, connectionId: row.connection_id })

function finished(row: RunRow) {
  const finishedAt = row.finished_at ?? new Date()
  return {
    counts: syncLogCountsFromRow(row),
    startedAt: row.started_at ? row.started_at.toISOString() : null,
    finishedAt: finishedAt.toISOString(),
    durationMs: row.started_at ? Math.max(0, finishedAt.getTime() - row.started_at.getTime()) : null,
  }
}

/** The run started for the first time (a resumed run does not start again). */
export async function publishRunStarted(trx: Knex.Transaction, row: RunRow): Promise<void> {
  await publishEvent(trx, { type: 'integration.sync.started', ...scope(row), data: { ...runFields(row), startedAt: (row.started_at ?? new Date()).toISOString() } })
}

/** A run reached `row.status` from `previous`: an event when that status ends the run (once: a repeat of the same status is none). */
export async function publishRunTransition(trx: Knex.Transaction, row: RunRow, previous: SyncLog['status']): Promise<void> {
  if (row.status === previous) return
  switch (row.status) {
    case 'succeeded':
    case 'partial':
      await publishEvent(trx, { type: 'integration.sync.completed', ...scope(row), data: { ...runFields(row), status: row.status, ...finished(row) } })
      return
    case 'failed':
      await publishEvent(trx, {
        type: 'integration.sync.failed',
        ...scope(row),
        data: { ...runFields(row), ...finished(row), error: { code: row.error_code ?? 'UNKNOWN', message: row.error_message ? row.error_message.slice(0, 500) : null } },
      })
      return
    case 'cancelled':
      await publishEvent(trx, { type: 'integration.sync.cancelled', ...scope(row), data: { ...runFields(row), ...finished(row) } })
      return
    default:
  }
}

export interface ChangedIds {
  created?: string[]
  updated?: string[]
  deleted?: string[]
}

/**
 * What one write of a run changed, by provider id: one event per write, split when a list is
 * longer than the catalogue allows. Nothing when nothing changed.
 */
export async function publishRecordsChanged(
  trx: Knex.Transaction,
  target: { tenantId: string; venueId: string; connectionId: string; provider: SyncLog['provider']; entity: SyncLog['entity']; syncLogId: string | null },
  ids: ChangedIds,
): Promise<number> {
  const lists = { created: ids.created ?? [], updated: ids.updated ?? [], deleted: ids.deleted ?? [] }
  const chunks = Math.max(...Object.values(lists).map((list) => Math.ceil(list.length / RECORDS_CHANGED_MAX_IDS)))
  for (let chunk = 0; chunk < chunks; chunk++) {
    const slice = (list: string[]) => list.slice(chunk * RECORDS_CHANGED_MAX_IDS, (chunk + 1) * RECORDS_CHANGED_MAX_IDS)
    const data: HubEventData<'integration.records.changed'> = { syncLogId: target.syncLogId, provider: target.provider, entity: target.entity, created: slice(lists.created), updated: slice(lists.updated), deleted: slice(lists.deleted) }
    await publishEvent(trx, { type: 'integration.records.changed', tenantId: target.tenantId, venueId: target.venueId, connectionId: target.connectionId, data })
  }
  return chunks
}
