// Typed clients for the internal routes. They take any signed requester (packages/internal-auth's
// client), so the route and its caller share one contract and only the transport is injected.
import type { InternalVenue, IntegrationStatus, SyncLogFeed, SyncTriggerBody, SyncTriggerResult, VenueDisconnectResult, VenueSyncLogPage } from './sync-log.ts'
import type { SecurityEventBatch } from './security-event.ts'
import type { AuditEventBatch, AuditEventBatchResult } from './audit-event.ts'
import type { RetentionPlan } from './retention.ts'
import type { SubjectEraseBody, SubjectEraseResult, SubjectSearchBody, SubjectSearchResult } from './subject-data.ts'
import type { VenueReconciliationStatus } from './reconciliation.ts'

export interface SignedRequester {
  request<T = unknown>(options: {
    method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
    path: string
    query?: Readonly<Record<string, string | number | boolean | null | undefined>>
    body?: unknown
    signal?: AbortSignal
  }): Promise<T>
}

export function integrationClient(requester: SignedRequester) {
  return {
    venueSyncLogs: (venueId: string, query: { since?: string; limit?: number; cursor?: string } = {}, signal?: AbortSignal) =>
      requester.request<VenueSyncLogPage>({ method: 'GET', path: `/internal/sync-logs/venue/${encodeURIComponent(venueId)}`, query, ...(signal ? { signal } : {}) }),
    syncLogFeed: (query: { cursor?: string; limit?: number } = {}, signal?: AbortSignal) => requester.request<SyncLogFeed>({ method: 'GET', path: '/internal/sync-logs', query, ...(signal ? { signal } : {}) }),
    venueStatus: (venueId: string) => requester.request<IntegrationStatus>({ method: 'GET', path: `/internal/integrations/venue/${encodeURIComponent(venueId)}/status` }),
    /** The latest full reconciliation of each (connection, entity) of a venue. */
    venueReconciliation: (tenantId: string, venueId: string, signal?: AbortSignal) =>
      requester.request<VenueReconciliationStatus>({ method: 'GET', path: `/internal/reconciliation/venue/${encodeURIComponent(venueId)}/status`, query: { tenantId }, ...(signal ? { signal } : {}) }),
    triggerSync: (body: SyncTriggerBody) => requester.request<SyncTriggerResult>({ method: 'POST', path: '/internal/sync/trigger', body }),
    /** Disconnects every live connection of a venue (safe to repeat). */
    disconnectVenue: (tenantId: string, venueId: string) => requester.request<VenueDisconnectResult>({ method: 'POST', path: `/internal/integrations/venue/${encodeURIComponent(venueId)}/disconnect`, body: { tenantId } }),
    /** Everything integration-service holds about a person in a tenant (read only). */
    searchSubject: (body: SubjectSearchBody) => requester.request<SubjectSearchResult>({ method: 'POST', path: '/internal/subject-data/search', body }),
    /** Redacts a person's personal fields and stores tombstones so later syncs keep them redacted (safe to repeat). */
    eraseSubject: (body: SubjectEraseBody) => requester.request<SubjectEraseResult>({ method: 'POST', path: '/internal/subject-data/erase', body }),
  }
}
export type IntegrationClient = ReturnType<typeof integrationClient>

export function venueClient(requester: SignedRequester) {
  return {
    /** The venue when it exists in the tenant, otherwise null. */
    getVenue: async (tenantId: string, venueId: string): Promise<InternalVenue | null> => {
      try {
        return await requester.request<InternalVenue>({ method: 'GET', path: `/internal/venues/${encodeURIComponent(venueId)}`, query: { tenantId } })
      } catch (error) {
        if ((error as { status?: number }).status === 404) return null
        throw error
      }
    },
  }
}
export type VenueClient = ReturnType<typeof venueClient>

export function complianceClient(requester: SignedRequester) {
  return {
    reportSecurityEvents: (batch: SecurityEventBatch) => requester.request<{ accepted: number }>({ method: 'POST', path: '/internal/security-events', body: batch }),
    recordAuditEvents: (batch: AuditEventBatch) => requester.request<AuditEventBatchResult>({ method: 'POST', path: '/internal/audit-events', body: batch }),
    /** The periods and holds of these tenants, read before every clean-up run. */
    retentionPlan: (tenantIds: string[], signal?: AbortSignal) => requester.request<RetentionPlan>({ method: 'POST', path: '/internal/retention/plan', body: { tenantIds }, ...(signal ? { signal } : {}) }),
  }
}
