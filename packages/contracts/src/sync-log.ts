// The sync-log contract between integration-service (which writes runs) and compliance-service
// (which keeps its own copy for auditors): the row, the per-venue page and the change feed.
import { Type, type Static } from '@sinclair/typebox'
import { Nullable, StringEnum, UuidString } from './string-enum.ts'

const DateTime = Type.String({ format: 'date-time' })
export const NullableDateTime = Nullable(DateTime)

export const SYNC_STATUSES = ['queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled'] as const
export const SYNC_TRIGGERS = ['webhook', 'manual', 'scheduled', 'batch'] as const
export const SYNC_MODES = ['full', 'incremental'] as const
export const PROVIDER_NAMES = ['stripe', 'square', 'mailchimp', 'quickbooks'] as const
export const ENTITY_NAMES = ['customer', 'payment', 'product', 'invoice', 'contact'] as const

export const SyncStatusSchema = StringEnum(SYNC_STATUSES)
export const SyncTriggerSchema = StringEnum(SYNC_TRIGGERS)
export const SyncModeSchema = StringEnum(SYNC_MODES)
export const ProviderNameSchema = StringEnum(PROVIDER_NAMES)
export const EntityNameSchema = StringEnum(ENTITY_NAMES)

export const SyncLogSchema = Type.Object({
  id: UuidString,
  tenantId: UuidString,
  venueId: UuidString,
  connectionId: UuidString,
  provider: ProviderNameSchema,
  entity: EntityNameSchema,
  mode: SyncModeSchema,
  trigger: SyncTriggerSchema,
  queue: Type.String(),
  jobId: Type.Union([Type.String(), Type.Null()]),
  status: SyncStatusSchema,
  startedAt: NullableDateTime,
  finishedAt: NullableDateTime,
  counts: Type.Object({
    fetched: Type.Integer(),
    created: Type.Integer(),
    updated: Type.Integer(),
    unchanged: Type.Integer(),
    deleted: Type.Integer(),
    failed: Type.Integer(),
  }),
  cursorBefore: Type.Union([Type.String(), Type.Null()]),
  cursorAfter: Type.Union([Type.String(), Type.Null()]),
  errorCode: Type.Union([Type.String(), Type.Null()]),
  errorMessage: Type.Union([Type.String(), Type.Null()]),
  createdAt: DateTime,
  updatedAt: DateTime,
})
export type SyncLog = Static<typeof SyncLogSchema>

/** A run's columns as both services store it: integration.sync_logs, and compliance-service's copy. */
export interface SyncLogRow {
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
  error_code: string | null
  error_message: string | null
}

/** What a row does not say alike in both services: the writer's times and cursors (the copy keeps none). */
export interface SyncLogRowTimes {
  createdAt: Date
  updatedAt: Date
  cursorBefore: string | null
  cursorAfter: string | null
}

const isoOrNull = (date: Date | null): string | null => (date ? date.toISOString() : null)

/** A run's record counts, from its row's `records_*` columns (the sync log and the run's events both carry them). */
export function syncLogCountsFromRow(row: Pick<SyncLogRow, 'records_fetched' | 'records_created' | 'records_updated' | 'records_unchanged' | 'records_deleted' | 'records_failed'>): SyncLog['counts'] {
  return {
    fetched: row.records_fetched,
    created: row.records_created,
    updated: row.records_updated,
    unchanged: row.records_unchanged,
    deleted: row.records_deleted,
    failed: row.records_failed,
  }
}

export function syncLogFromRow(row: SyncLogRow, times: SyncLogRowTimes): SyncLog {
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
    startedAt: isoOrNull(row.started_at),
    finishedAt: isoOrNull(row.finished_at),
    counts: syncLogCountsFromRow(row),
    cursorBefore: times.cursorBefore,
    cursorAfter: times.cursorAfter,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    createdAt: times.createdAt.toISOString(),
    updatedAt: times.updatedAt.toISOString(),
  }
}

export function syncLogToRow(log: SyncLog): SyncLogRow {
  return {
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
  }
}

export const VenueSyncLogsParams = Type.Object({ venueId: UuidString }, { additionalProperties: false })
export const VenueSyncLogsQuery = Type.Object(
  {
    since: Type.Optional(Type.String({ format: 'date-time', description: 'Only runs changed at or after this time' })),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
)
export type VenueSyncLogsQueryType = Static<typeof VenueSyncLogsQuery>
export const VenueSyncLogPageSchema = Type.Object({ venueId: UuidString, logs: Type.Array(SyncLogSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) })
export type VenueSyncLogPage = Static<typeof VenueSyncLogPageSchema>

export const SyncLogFeedQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
)
export type SyncLogFeedQueryType = Static<typeof SyncLogFeedQuery>
/**
 * The change feed across tenants, ordered by last change: a run appears again after each change
 * (queued → running → succeeded). `nextCursor` is always returned; pass it back to continue, and
 * an empty `logs` means the consumer is caught up.
 */
export const SyncLogFeedSchema = Type.Object({ logs: Type.Array(SyncLogSchema), nextCursor: Type.String() })
export type SyncLogFeed = Static<typeof SyncLogFeedSchema>

export const CONNECTION_STATUSES = ['pending', 'active', 'error', 'needs_reauth', 'disconnected'] as const
export const IntegrationStatusSchema = Type.Object({
  venueId: UuidString,
  connections: Type.Array(
    Type.Object({
      connectionId: UuidString,
      provider: ProviderNameSchema,
      status: Type.Union([StringEnum(CONNECTION_STATUSES), Type.Literal('unknown')]),
      lastSync: Type.Union([Type.Object({ syncLogId: UuidString, entity: EntityNameSchema, status: SyncStatusSchema, finishedAt: NullableDateTime, startedAt: NullableDateTime }), Type.Null()]),
      lastSuccessAt: NullableDateTime,
    }),
  ),
})
export type IntegrationStatus = Static<typeof IntegrationStatusSchema>

export const SyncTriggerBodySchema = Type.Object(
  {
    tenantId: UuidString,
    venueId: UuidString,
    provider: ProviderNameSchema,
    entities: Type.Optional(Type.Array(EntityNameSchema, { minItems: 1, uniqueItems: true })),
    mode: Type.Optional(SyncModeSchema),
  },
  { additionalProperties: false },
)
export type SyncTriggerBody = Static<typeof SyncTriggerBodySchema>
export const SyncTriggerResultSchema = Type.Object({ jobs: Type.Array(Type.Object({ jobId: Type.String(), syncLogId: UuidString, entity: EntityNameSchema, connectionId: UuidString })) })
export type SyncTriggerResult = Static<typeof SyncTriggerResultSchema>

/** venue-service, deleting a venue, asks integration-service to disconnect everything it had. */
export const VenueDisconnectBodySchema = Type.Object({ tenantId: UuidString }, { additionalProperties: false })
export type VenueDisconnectBody = Static<typeof VenueDisconnectBodySchema>
export const VenueDisconnectResultSchema = Type.Object({
  venueId: UuidString,
  /** Connections disconnected by this call; empty when there were none left (a repeated call). */
  disconnected: Type.Array(UuidString),
})
export type VenueDisconnectResult = Static<typeof VenueDisconnectResultSchema>

/** The venue as other services see it (`GET /internal/venues/:id?tenantId=`). */
export const InternalVenueSchema = Type.Object({
  id: UuidString,
  tenantId: UuidString,
  name: Type.String(),
  slug: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('archived')]),
  timezone: Type.String(),
  currency: Type.String(),
})
export type InternalVenue = Static<typeof InternalVenueSchema>
export const InternalVenueParams = Type.Object({ id: UuidString }, { additionalProperties: false })
export const InternalVenueQuery = Type.Object({ tenantId: UuidString }, { additionalProperties: false })

/** Permissions checked on internal routes, held per calling service. */
export const INTERNAL_PERMISSIONS = {
  venuesRead: 'venues:read',
  syncLogsRead: 'sync-logs:read',
  integrationsRead: 'integrations:read',
  syncTrigger: 'sync:trigger',
  connectionsDisconnect: 'connections:disconnect',
  securityEventsWrite: 'security-events:write',
  auditEventsWrite: 'audit-events:write',
  retentionRead: 'retention:read',
  subjectDataRead: 'subject-data:read',
  subjectDataErase: 'subject-data:erase',
} as const
