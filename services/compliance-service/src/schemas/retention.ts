import { Type } from '@sinclair/typebox'
import { LEGAL_HOLD_SCOPES, Nullable, RETENTION_MAXIMUM_DAYS, RetentionPeriodsSchema, StringEnum, UuidString } from '@hub/contracts'

const DateTime = Type.String({ format: 'date-time' })
// The hub's minimums are checked by the service (RETENTION_PERIOD_TOO_SHORT names the kind and its minimum).
const Days = Type.Integer({ minimum: 1, maximum: RETENTION_MAXIMUM_DAYS })

export const RetentionPolicySchema = Type.Object({
  /** 0 until the tenant sets a policy: the defaults apply. */
  version: Type.Integer({ minimum: 0 }),
  periods: RetentionPeriodsSchema,
  changedBy: Nullable(Type.String()),
  changedAt: Nullable(DateTime),
})

export const RetentionPolicyViewSchema = Type.Object({
  ...RetentionPolicySchema.properties,
  defaults: RetentionPeriodsSchema,
  minimums: RetentionPeriodsSchema,
})

export const RetentionPolicyBody = Type.Object(
  {
    periods: Type.Object(
      {
        disconnectedRecords: Type.Optional(Days),
        webhookPayloads: Type.Optional(Days),
        syncLogs: Type.Optional(Days),
        securityEvents: Type.Optional(Days),
        auditLog: Type.Optional(Days),
      },
      { additionalProperties: false, minProperties: 1 },
    ),
    /** The version the change was made against; refused with 409 when the policy moved since. */
    expectedVersion: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
)

export const RetentionPolicyVersionsQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }) }, { additionalProperties: false })
export const RetentionPolicyVersionsSchema = Type.Object({ data: Type.Array(RetentionPolicySchema) })

export const LegalHoldSchema = Type.Object({
  id: UuidString,
  scope: StringEnum(LEGAL_HOLD_SCOPES),
  scopeId: UuidString,
  reason: Type.String(),
  placedBy: Type.String(),
  placedAt: DateTime,
  releasedBy: Nullable(Type.String()),
  releasedAt: Nullable(DateTime),
})

export const LegalHoldBody = Type.Object(
  {
    scope: StringEnum(LEGAL_HOLD_SCOPES),
    /** The venue or connection held; left out for a hold on the whole tenant. */
    scopeId: Type.Optional(UuidString),
    /** A case or matter reference; kept with the hold, never copied into the audit log. */
    reason: Type.String({ minLength: 1, maxLength: 500 }),
  },
  { additionalProperties: false },
)

export const LegalHoldListQuery = Type.Object({ active: Type.Optional(Type.Boolean()), limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }) }, { additionalProperties: false })
export const LegalHoldListSchema = Type.Object({ data: Type.Array(LegalHoldSchema) })
export const LegalHoldParams = Type.Object({ id: UuidString }, { additionalProperties: false })
