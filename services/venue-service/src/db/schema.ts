import { fileURLToPath } from 'node:url'
import type { SchemaSpec } from '@hub/service-kit'

/** venue-service owns the `venue` schema and runs as `hub_venue`. */
export const VENUE_SCHEMA: SchemaSpec = {
  schema: 'venue',
  appRole: 'hub_venue',
  directory: fileURLToPath(new URL('../../migrations', import.meta.url)),
}

/** Every table of the `venue` schema, schema-qualified (owners: docs/architecture.md). */
export const VENUE_TABLES = {
  venues: 'venue.venues',
  venueMembers: 'venue.venue_members',
  // Written and relayed by @hub/service-kit (the audit outbox and the security-event buffer).
  auditOutbox: 'venue.audit_outbox',
  securityEventOutbox: 'venue.security_event_outbox',
} as const
