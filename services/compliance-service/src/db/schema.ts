import { fileURLToPath } from 'node:url'
import type { SchemaSpec } from '@hub/service-kit'

/** compliance-service owns the `compliance` schema and runs as `hub_compliance`. */
export const COMPLIANCE_SCHEMA: SchemaSpec = {
  schema: 'compliance',
  appRole: 'hub_compliance',
  directory: fileURLToPath(new URL('../../migrations', import.meta.url)),
}

/** Every table of the `compliance` schema, schema-qualified (owners: docs/architecture.md). */
export const COMPLIANCE_TABLES = {
  syncLogs: 'compliance.sync_logs',
  consumerCursors: 'compliance.consumer_cursors',
  securityEvents: 'compliance.security_events',
  auditLog: 'compliance.audit_log',
  auditSigningKeys: 'compliance.audit_signing_keys',
  auditDigests: 'compliance.audit_digests',
  auditSegments: 'compliance.audit_segments',
  auditSegmentRemovals: 'compliance.audit_segment_removals',
  retentionPolicies: 'compliance.retention_policies',
  legalHolds: 'compliance.legal_holds',
  subjectRequests: 'compliance.subject_requests',
} as const
