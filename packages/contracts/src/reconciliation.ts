// The latest reconciliation status of a venue's connections, as integration-service serves it to
// compliance-service (GET /internal/reconciliation/venue/:venueId/status, `integrations:read`).
import { Type, type Static } from '@sinclair/typebox'
import { StringEnum, UuidString } from './string-enum.ts'
import { EntityNameSchema, NullableDateTime, ProviderNameSchema } from './sync-log.ts'

export const RECONCILIATION_STATUSES = ['clean', 'drift', 'failed'] as const

export const VenueReconciliationStatusSchema = Type.Object(
  {
    venueId: UuidString,
    /** One entry per (connection, entity): its latest finished full run. */
    entries: Type.Array(
      Type.Object(
        {
          connectionId: UuidString,
          provider: ProviderNameSchema,
          entity: EntityNameSchema,
          runId: UuidString,
          status: StringEnum(RECONCILIATION_STATUSES),
          finishedAt: NullableDateTime,
          lastCleanAt: NullableDateTime,
          mismatches: Type.Integer({ minimum: 0 }),
          repaired: Type.Integer({ minimum: 0 }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)
export type VenueReconciliationStatus = Static<typeof VenueReconciliationStatusSchema>
