// Audit events: each service records them in its own outbox, in the transaction of the change;
// a relay delivers them to compliance-service (`POST /internal/audit-events`, idempotent by id),
// which appends them to a hash-chained, append-only log per tenant.
import { Type, type Static } from '@sinclair/typebox'
import { Nullable, UuidString } from './string-enum.ts'

export const AuditEventInputSchema = Type.Object(
  {
    /** The outbox row's id: delivering the same event again is recognised and ignored. */
    id: UuidString,
    tenantId: UuidString,
    /** The service that recorded it. */
    source: Type.String({ minLength: 1, maxLength: 64 }),
    actorType: Type.Union([Type.Literal('user'), Type.Literal('service')]),
    actorId: Type.String({ minLength: 1, maxLength: 200 }),
    action: Type.String({ minLength: 1, maxLength: 100 }),
    entityType: Type.String({ minLength: 1, maxLength: 64 }),
    entityId: Type.String({ minLength: 1, maxLength: 200 }),
    /** Before and after images, secrets already removed by the recording service. */
    before: Nullable(Type.Unknown()),
    after: Nullable(Type.Unknown()),
    requestId: Nullable(Type.String({ maxLength: 128 })),
    ip: Nullable(Type.String({ maxLength: 64 })),
    occurredAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
)
export type AuditEventInput = Static<typeof AuditEventInputSchema>

export const AuditEventBatchSchema = Type.Object({ events: Type.Array(AuditEventInputSchema, { minItems: 1, maxItems: 500 }) }, { additionalProperties: false })
export type AuditEventBatch = Static<typeof AuditEventBatchSchema>
export const AuditEventBatchResultSchema = Type.Object({ accepted: Type.Integer(), duplicates: Type.Integer() })
export type AuditEventBatchResult = Static<typeof AuditEventBatchResultSchema>
