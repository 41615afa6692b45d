// The events of sync runs, built from what the run's writers already hold: the sync-log row at a
// status change, and the provider ids a write created, updated or deleted.
import type { Knex } from 'knex'
import { RECORDS_CHANGED_MAX_IDS, syncLogCountsFromRow, type HubEventData, type HubEventType, type SyncLog, type SyncLogRow } from '@hub/contracts'
import { publishEvent, publishEvents, type NewHubEvent } from './event-outbox-repository.ts'

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
export function runStartedEvent(row: RunRow): NewHubEvent<'integration.sync.started'> {
  return { type: 'integration.sync.started', ...scope(row), data: { ...runFields(row), startedAt: (row.started_at ?? new Date()).toISOString() } }
}

export async function publishRunStarted(trx: Knex.Transaction, row: RunRow): Promise<void> {
  await publishEvent(trx, runStartedEvent(row))
}

/** A run reached `row.status` from `previous`: an event when that status ends the run (once: a repeat of the same status is none). */
export function runTransitionEvent(row: RunRow, previous: SyncLog['status'] | null): NewHubEvent<HubEventType> | null {
  if (row.status === previous) return null
  switch (row.status) {
    case 'succeeded':
    case 'partial':
      return { type: 'integration.sync.completed', ...scope(row), data: { ...runFields(row), status: row.status, ...finished(row) } }
    case 'failed':
      return {
        type: 'integration.sync.failed',
        ...scope(row),
        data: { ...runFields(row), ...finished(row), error: { code: row.error_code ?? 'UNKNOWN', message: row.error_message ? row.error_message.slice(0, 500) : null } },
      }
    case 'cancelled':
      return { type: 'integration.sync.cancelled', ...scope(row), data: { ...runFields(row), ...finished(row) } }
    default:
      return null
  }
}

export async function publishRunTransition(trx: Knex.Transaction, row: RunRow, previous: SyncLog['status']): Promise<void> {
  const event = runTransitionEvent(row, previous)
  if (event) await publishEvent(trx, event)
}

export interface ChangedIds {
  created?: string[]
  updated?: string[]
  deleted?: string[]
}

export type RecordsChangedTarget = { tenantId: string; venueId: string; connectionId: string; provider: SyncLog['provider']; entity: SyncLog['entity']; syncLogId: string | null }

/**
 * What one write of a run changed, by provider id: one event per write, split when a list is
 * longer than the catalogue allows. None when nothing changed.
 */
export function recordsChangedEvents(target: RecordsChangedTarget, ids: ChangedIds): Array<NewHubEvent<'integration.records.changed'>> {
  const lists = { created: ids.created ?? [], updated: ids.updated ?? [], deleted: ids.deleted ?? [] }
  const chunks = Math.max(...Object.values(lists).map((list) => Math.ceil(list.length / RECORDS_CHANGED_MAX_IDS)))
  const events: Array<NewHubEvent<'integration.records.changed'>> = []
  for (let chunk = 0; chunk < chunks; chunk++) {
    const slice = (list: string[]) => list.slice(chunk * RECORDS_CHANGED_MAX_IDS, (chunk + 1) * RECORDS_CHANGED_MAX_IDS)
    const data: HubEventData<'integration.records.changed'> = { syncLogId: target.syncLogId, provider: target.provider, entity: target.entity, created: slice(lists.created), updated: slice(lists.updated), deleted: slice(lists.deleted) }
    events.push({ type: 'integration.records.changed', tenantId: target.tenantId, venueId: target.venueId, connectionId: target.connectionId, data })
  }
  return events
}

export async function publishRecordsChanged(trx: Knex.Transaction, target: RecordsChangedTarget, ids: ChangedIds): Promise<number> {
  const events = recordsChangedEvents(target, ids)
  await publishEvents(trx, events)
  return events.length
}
