import { fileURLToPath } from 'node:url'
import type { SchemaSpec } from '@hub/service-kit'

/** integration-service owns the `integration` schema and runs as `hub_integration`. */
export const INTEGRATION_SCHEMA: SchemaSpec = {
  schema: 'integration',
  appRole: 'hub_integration',
  directory: fileURLToPath(new URL('../../migrations', import.meta.url)),
}

/**
 * Every table of the `integration` schema, schema-qualified. Each has one owner file that holds all
 * its SQL (docs/architecture.md lists them; infra/test/architecture.test.ts keeps that true).
 */
export const INTEGRATION_TABLES = {
  connections: 'integration.connections',
  oauthStates: 'integration.oauth_states',
  integrationSettings: 'integration.integration_settings',
  integrationSettingsVersions: 'integration.integration_settings_versions',
  syncLogs: 'integration.sync_logs',
  syncState: 'integration.sync_state',
  records: 'integration.records',
  syncRunSeen: 'integration.sync_run_seen',
  fieldMappings: 'integration.field_mappings',
  pushState: 'integration.push_state',
  deadLetters: 'integration.dead_letters',
  webhookInbox: 'integration.webhook_inbox',
  webhookEndpoints: 'integration.webhook_endpoints',
  webhookMessages: 'integration.webhook_messages',
  webhookAttempts: 'integration.webhook_attempts',
  subjectTombstones: 'integration.subject_tombstones',
  eventOutbox: 'integration.event_outbox',
  eventSequences: 'integration.event_sequences',
  reconciliationRuns: 'integration.reconciliation_runs',
  reconciliationItems: 'integration.reconciliation_items',
  reconciliationSeen: 'integration.reconciliation_seen',
  reconciliationSchedules: 'integration.reconciliation_schedules',
  // Written and relayed by @hub/service-kit (the audit outbox and the security-event buffer).
  auditOutbox: 'integration.audit_outbox',
  securityEventOutbox: 'integration.security_event_outbox',
} as const
