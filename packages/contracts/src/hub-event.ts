// The envelope every event the hub publishes travels in: on the internal bus (Redis Streams) and in
// the body of a tenant's outbound webhook. The catalogue of types and their `data` schemas lives
// beside it (one schema per type, versioned); consumers switch on `type` and `version`.
import { Type, type Static } from '@sinclair/typebox'
import { Nullable, StringEnum, UuidString } from './string-enum.ts'

export const HUB_EVENT_TYPES = [
  'integration.sync.started',
  'integration.sync.completed',
  'integration.sync.failed',
  'integration.sync.cancelled',
  'integration.records.changed',
  'integration.connection.status_changed',
  'integration.webhook.received',
  'integration.reconciliation.completed',
  // A tenant's outbound webhook endpoint that kept failing was disabled: its owner's own systems hear it.
  'integration.endpoint.disabled',
] as const
export type HubEventType = (typeof HUB_EVENT_TYPES)[number]
export const HubEventTypeSchema = StringEnum(HUB_EVENT_TYPES)

// One stream per family: the part of the type between `integration.` and the last dot.
export const HUB_EVENT_FAMILIES = ['sync', 'records', 'connection', 'webhook', 'reconciliation', 'endpoint'] as const
export type HubEventFamily = (typeof HUB_EVENT_FAMILIES)[number]
export function hubEventFamily(type: HubEventType): HubEventFamily {
  return type.split('.')[1] as HubEventFamily
}

export const HubEventEnvelopeSchema = Type.Object(
  {
    id: UuidString,
    type: HubEventTypeSchema,
    version: Type.Integer({ minimum: 1 }),
    tenantId: UuidString,
    venueId: UuidString,
    connectionId: Nullable(UuidString),
    // Per connection (or per venue when there is none), gapless and increasing: consumers order by it.
    sequence: Type.Integer({ minimum: 1 }),
    occurredAt: Type.String({ format: 'date-time' }),
    data: Type.Record(Type.String(), Type.Unknown()),
  },
  { additionalProperties: false },
)
export type HubEvent = Static<typeof HubEventEnvelopeSchema>
