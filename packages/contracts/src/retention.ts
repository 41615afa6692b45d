// Retention policies and legal holds: compliance-service owns them (auditors do), and every
// clean-up job asks it before a run (`POST /internal/retention/plan`), purging nothing when it
// cannot learn the holds.
import { Type, type Static } from '@sinclair/typebox'
import { UuidString } from './string-enum.ts'

/** What a policy sets a period for, in days. */
export const RETENTION_KINDS = ['disconnectedRecords', 'webhookPayloads', 'syncLogs', 'securityEvents', 'auditLog'] as const
export type RetentionKind = (typeof RETENTION_KINDS)[number]
export type RetentionPeriods = Record<RetentionKind, number>

/** A tenant that never set a policy keeps data this long (days). The audit log: six years. */
export const RETENTION_DEFAULT_DAYS: Readonly<RetentionPeriods> = Object.freeze({
  disconnectedRecords: 90,
  webhookPayloads: 30,
  syncLogs: 365,
  securityEvents: 365,
  auditLog: 6 * 365,
})

/** The hub refuses a policy under these (days): the audit log is kept at least a year. */
export const RETENTION_MINIMUM_DAYS: Readonly<RetentionPeriods> = Object.freeze({
  disconnectedRecords: 1,
  webhookPayloads: 1,
  syncLogs: 30,
  securityEvents: 90,
  auditLog: 365,
})

/** Ten years: a longer period is a typo, not a policy. */
export const RETENTION_MAXIMUM_DAYS = 3650

export const LEGAL_HOLD_SCOPES = ['tenant', 'venue', 'connection'] as const
export type LegalHoldScope = (typeof LEGAL_HOLD_SCOPES)[number]

const Days = Type.Integer({ minimum: 1, maximum: RETENTION_MAXIMUM_DAYS })
export const RetentionPeriodsSchema = Type.Object(
  {
    disconnectedRecords: Days,
    webhookPayloads: Days,
    syncLogs: Days,
    securityEvents: Days,
    auditLog: Days,
  },
  { additionalProperties: false },
)

/** What a clean-up job of one tenant must respect: its periods and the scopes under a hold. */
export const TenantRetentionPlanSchema = Type.Object({
  tenantId: UuidString,
  policyVersion: Type.Integer({ minimum: 0 }),
  periods: RetentionPeriodsSchema,
  /** A hold on the tenant itself: nothing of it is purged. */
  tenantHeld: Type.Boolean(),
  heldVenueIds: Type.Array(UuidString),
  heldConnectionIds: Type.Array(UuidString),
})
export type TenantRetentionPlan = Static<typeof TenantRetentionPlanSchema>

export const RetentionPlanBody = Type.Object({ tenantIds: Type.Array(UuidString, { minItems: 1, maxItems: 500, uniqueItems: true }) }, { additionalProperties: false })
export type RetentionPlanBody = Static<typeof RetentionPlanBody>
export const RetentionPlanSchema = Type.Object({ data: Type.Array(TenantRetentionPlanSchema), generatedAt: Type.String({ format: 'date-time' }) })
export type RetentionPlan = Static<typeof RetentionPlanSchema>
