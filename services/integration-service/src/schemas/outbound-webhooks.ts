// Schemas of /api/v1/integrations/webhook-endpoints: a tenant's own receivers of hub events.
import { Type, type Static } from '@sinclair/typebox'
import { HUB_EVENT_TYPES, Nullable, StringEnum, UuidString } from '@hub/contracts'

const DateTime = Type.String({ format: 'date-time' })
const Cursor = Type.Optional(Type.String({ maxLength: 512 }))
const Limit = Type.Integer({ minimum: 1, maximum: 200, default: 50 })

export const EndpointUrl = Type.String({ minLength: 8, maxLength: 2048, pattern: '^https?://', description: 'Where deliveries are POSTed; must resolve to public addresses only.' })
const EventTypes = Type.Array(StringEnum(HUB_EVENT_TYPES), { minItems: 1, maxItems: HUB_EVENT_TYPES.length, uniqueItems: true })
const Description = Type.String({ maxLength: 500 })

export const EndpointParams = Type.Object({ id: UuidString }, { additionalProperties: false })
export const MessageParams = Type.Object({ id: UuidString, messageId: UuidString }, { additionalProperties: false })

export const EndpointBody = Type.Object(
  {
    url: EndpointUrl,
    eventTypes: EventTypes,
    /** Only this venue's events; absent or null: every venue of the tenant. */
    venueId: Type.Optional(Nullable(UuidString)),
    description: Type.Optional(Description),
  },
  { additionalProperties: false },
)
export type EndpointBodyInput = Static<typeof EndpointBody>

export const EndpointPatchBody = Type.Object(
  {
    url: Type.Optional(EndpointUrl),
    eventTypes: Type.Optional(EventTypes),
    venueId: Type.Optional(Nullable(UuidString)),
    description: Type.Optional(Description),
    /** false disables by hand; true enables again (also an endpoint disabled for failing). */
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
)

export const RotateSecretBody = Type.Object(
  {
    /** How long the previous secret keeps signing deliveries beside the new one; 0 ends it now. */
    overlapSeconds: Type.Integer({ minimum: 0, maximum: 7 * 24 * 3600, default: 24 * 3600 }),
  },
  { additionalProperties: false },
)

export const EndpointSchema = Type.Object({
  id: UuidString,
  url: Type.String(),
  description: Type.String(),
  eventTypes: Type.Array(Type.String()),
  venueId: Nullable(UuidString),
  enabled: Type.Boolean(),
  disabledReason: Nullable(StringEnum(['manual', 'failing'])),
  disabledAt: Nullable(DateTime),
  /** While set, deliveries carry a second signature made with the previous secret. */
  previousSecretExpiresAt: Nullable(DateTime),
  consecutiveFailures: Type.Integer(),
  failingSince: Nullable(DateTime),
  createdAt: DateTime,
  updatedAt: DateTime,
})

/** Creation and rotation answers: the secret, shown this once. */
export const EndpointWithSecretSchema = Type.Intersect([EndpointSchema, Type.Object({ secret: Type.String({ pattern: '^whsec_' }) })])

export const EndpointListQuery = Type.Object({ cursor: Cursor, limit: Limit }, { additionalProperties: false })
export const EndpointPageSchema = Type.Object({ data: Type.Array(EndpointSchema), nextCursor: Nullable(Type.String()) })

export const MessageSchema = Type.Object({
  id: UuidString,
  endpointId: UuidString,
  eventId: UuidString,
  eventType: Type.String(),
  status: StringEnum(['pending', 'succeeded', 'failed']),
  attempts: Type.Integer(),
  nextAttemptAt: Nullable(DateTime),
  lastError: Nullable(Type.String()),
  deliveredAt: Nullable(DateTime),
  createdAt: DateTime,
  /** The body every attempt sends: the event's envelope. */
  payload: Type.Record(Type.String(), Type.Unknown()),
})

export const MessageListQuery = Type.Object(
  {
    status: Type.Optional(StringEnum(['pending', 'succeeded', 'failed'])),
    eventType: Type.Optional(StringEnum([...HUB_EVENT_TYPES, 'webhook.ping'])),
    cursor: Cursor,
    limit: Limit,
  },
  { additionalProperties: false },
)
export const MessagePageSchema = Type.Object({ data: Type.Array(MessageSchema), nextCursor: Nullable(Type.String()) })

export const AttemptSchema = Type.Object({
  id: UuidString,
  messageId: UuidString,
  attemptNumber: Type.Integer(),
  outcome: StringEnum(['succeeded', 'failed', 'refused']),
  responseStatus: Nullable(Type.Integer()),
  latencyMs: Type.Integer(),
  /** At most 1 KiB of what the receiver answered. */
  responseSnippet: Nullable(Type.String()),
  error: Nullable(Type.String()),
  createdAt: DateTime,
})
export const AttemptListQuery = Type.Object({ outcome: Type.Optional(StringEnum(['succeeded', 'failed', 'refused'])), cursor: Cursor, limit: Limit }, { additionalProperties: false })
export const AttemptPageSchema = Type.Object({ data: Type.Array(AttemptSchema), nextCursor: Nullable(Type.String()) })
