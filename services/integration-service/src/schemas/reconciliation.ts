// TypeBox schemas of the reconciliation API (/api/v1/integrations/reconciliation/...).
import { Type, type Static } from '@sinclair/typebox'
import { ENTITY_NAMES, Nullable, StringEnum, UuidString } from '@hub/contracts'
import { ProviderParam } from './connection.ts'

export const RUN_STATUSES = ['queued', 'running', 'clean', 'drift', 'failed'] as const
export const RUN_MODES = ['full', 'quick'] as const
export const RUN_TRIGGERS = ['manual', 'scheduled', 'escalation'] as const
export const ITEM_KINDS = ['missing_in_hub', 'missing_at_provider', 'changed', 'amount_mismatch'] as const
export const REPAIR_STATUSES = ['repaired', 'still_different', 'failed'] as const

const Timestamp = Type.String({ format: 'date-time' })
const Cursor = Type.String({ minLength: 1, maxLength: 512, description: 'Opaque cursor from a previous page' })
const Limit = (max: number, dflt: number) => Type.Integer({ minimum: 1, maximum: max, default: dflt })

export const PeriodSchema = Type.Object({ from: Timestamp, to: Timestamp }, { additionalProperties: false, description: 'Records whose createdAt falls in [from, to); records without one are left out' })

export const RunRequestBody = Type.Object(
  {
    venueId: UuidString,
    provider: ProviderParam,
    entities: Type.Optional(Type.Array(StringEnum(ENTITY_NAMES), { minItems: 1, maxItems: ENTITY_NAMES.length, uniqueItems: true })),
    period: Type.Optional(PeriodSchema),
    mode: Type.Optional(StringEnum(RUN_MODES, { description: 'full (default) compares every record; quick only counts and totals' })),
  },
  { additionalProperties: false },
)
export type RunRequest = Static<typeof RunRequestBody>

const BucketSchema = Type.Object({ currency: Type.String(), day: Type.String(), count: Type.Integer(), amount: Type.Integer() }, { additionalProperties: false })

export const RunSchema = Type.Object(
  {
    id: UuidString,
    venueId: UuidString,
    connectionId: UuidString,
    provider: Type.String(),
    entity: Type.String(),
    mode: StringEnum(RUN_MODES),
    trigger: StringEnum(RUN_TRIGGERS),
    status: StringEnum(RUN_STATUSES),
    period: Nullable(Type.Object({ from: Nullable(Timestamp), to: Nullable(Timestamp) }, { additionalProperties: false })),
    requestedBy: Nullable(Type.String()),
    jobId: Nullable(Type.String()),
    pages: Type.Integer(),
    counts: Type.Object({ provider: Type.Integer(), hub: Nullable(Type.Integer()) }, { additionalProperties: false }),
    totals: Type.Object({ provider: Type.Array(BucketSchema), hub: Nullable(Type.Array(BucketSchema)) }, { additionalProperties: false, description: 'Money entities: count and sum of amounts (minor units) per currency and day' }),
    mismatches: Type.Object({ missingInHub: Type.Integer(), missingAtProvider: Type.Integer(), changed: Type.Integer(), amountMismatch: Type.Integer() }, { additionalProperties: false }),
    repaired: Type.Integer(),
    repairedAt: Nullable(Timestamp),
    escalatedRunId: Nullable(UuidString),
    errorCode: Nullable(Type.String()),
    errorMessage: Nullable(Type.String()),
    createdAt: Timestamp,
    startedAt: Nullable(Timestamp),
    finishedAt: Nullable(Timestamp),
    durationMs: Nullable(Type.Integer()),
  },
  { additionalProperties: false },
)
export type RunView = Static<typeof RunSchema>

export const RunsCreatedSchema = Type.Object({ connectionId: UuidString, jobId: Nullable(Type.String()), runs: Type.Array(RunSchema) }, { additionalProperties: false })

export const RunListQuery = Type.Object(
  {
    venueId: Type.Optional(UuidString),
    connectionId: Type.Optional(UuidString),
    provider: Type.Optional(ProviderParam),
    entity: Type.Optional(StringEnum(ENTITY_NAMES)),
    status: Type.Optional(StringEnum(RUN_STATUSES)),
    mode: Type.Optional(StringEnum(RUN_MODES)),
    cursor: Type.Optional(Cursor),
    limit: Limit(200, 50),
  },
  { additionalProperties: false },
)
export type RunList = Static<typeof RunListQuery>
export const RunListSchema = Type.Object({ data: Type.Array(RunSchema), nextCursor: Nullable(Type.String()) }, { additionalProperties: false })

export const RunParams = Type.Object({ id: UuidString }, { additionalProperties: false })
export const RunItemsQuery = Type.Object({ kind: Type.Optional(StringEnum(ITEM_KINDS)), cursor: Type.Optional(Cursor), limit: Limit(1000, 100) }, { additionalProperties: false })
export type RunItems = Static<typeof RunItemsQuery>

export const ItemSchema = Type.Object(
  {
    id: UuidString,
    kind: StringEnum(ITEM_KINDS),
    externalId: Nullable(Type.String()),
    providerHash: Nullable(Type.String()),
    hubHash: Nullable(Type.String()),
    currency: Nullable(Type.String()),
    day: Nullable(Type.String()),
    providerCount: Nullable(Type.Integer()),
    hubCount: Nullable(Type.Integer()),
    providerAmount: Nullable(Type.Integer()),
    hubAmount: Nullable(Type.Integer()),
    repairStatus: Nullable(StringEnum(REPAIR_STATUSES)),
    repairedAt: Nullable(Timestamp),
    createdAt: Timestamp,
  },
  { additionalProperties: false },
)
export const RunDetailSchema = Type.Object({ run: RunSchema, items: Type.Object({ data: Type.Array(ItemSchema), nextCursor: Nullable(Type.String()) }, { additionalProperties: false }) }, { additionalProperties: false })

export const RepairResultSchema = Type.Object({ runId: UuidString, attempted: Type.Integer(), repaired: Type.Integer(), stillDifferent: Type.Integer(), failed: Type.Integer(), run: RunSchema }, { additionalProperties: false })

export const ScheduleParams = Type.Object({ connectionId: UuidString }, { additionalProperties: false })
export const ScheduleBody = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean()),
    hour: Type.Optional(Type.Integer({ minimum: 0, maximum: 23, description: 'Hour of the daily full run, in `timezone` (default 3)' })),
    timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "IANA time zone (default: the venue's)" })),
    quickCheck: Type.Optional(Type.Boolean({ description: 'Hourly count-and-totals check that escalates to a full run on a difference (default true)' })),
    autoRepair: Type.Optional(Type.Boolean({ description: 'Repair drift found by scheduled runs without an admin (default false)' })),
  },
  { additionalProperties: false },
)
export type ScheduleUpdate = Static<typeof ScheduleBody>
export const ScheduleSchema = Type.Object(
  {
    connectionId: UuidString,
    venueId: UuidString,
    configured: Type.Boolean({ description: 'false: no schedule saved yet (the values are the defaults, and nothing runs)' }),
    enabled: Type.Boolean(),
    hour: Type.Integer(),
    timezone: Type.String(),
    quickCheck: Type.Boolean(),
    autoRepair: Type.Boolean(),
    dailyRunAt: Type.String({
      pattern: '^\\d{2}:\\d{2}:\\d{2}$',
      description: "HH:MM:SS in `timezone` at which the daily full run starts: the chosen hour, at the connection's own minute and second (connections are spread over the hour rather than all starting at :00)",
    }),
    quickCheckAt: Type.String({ pattern: '^\\d{2}:\\d{2}$', description: "MM:SS past every hour (UTC) at which the quick check starts, the connection's own" }),
    updatedAt: Nullable(Timestamp),
  },
  { additionalProperties: false },
)
export type ScheduleView = Static<typeof ScheduleSchema>
