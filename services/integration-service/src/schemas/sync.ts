import { Type, type Static } from '@sinclair/typebox'
import { ENTITY_NAMES, ProblemSchema, StringEnum, SYNC_MODES, SYNC_STATUSES, SyncLogSchema, UuidString, Nullable } from '@hub/contracts'
import { ProviderParam } from './connection.ts'

export const EntityParam = StringEnum(ENTITY_NAMES)
const DateTime = Type.String({ format: 'date-time' })

export const SyncRequestBody = Type.Object(
  {
    venueId: UuidString,
    entities: Type.Optional(Type.Array(EntityParam, { minItems: 1, uniqueItems: true })),
    mode: Type.Optional(StringEnum(SYNC_MODES, { default: 'incremental' })),
  },
  { additionalProperties: false },
)
export type SyncRequest = Static<typeof SyncRequestBody>

export const EnqueuedSchema = Type.Object({
  connectionId: UuidString,
  jobs: Type.Array(Type.Object({ entity: EntityParam, jobId: Type.String(), syncLogId: UuidString, queue: Type.String() })),
})

export const JobParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9:_-]+$' }) }, { additionalProperties: false })

export const JobSchema = Type.Object({
  id: Type.String(),
  queue: Type.String(),
  name: Type.String(),
  state: Type.String(),
  progress: Type.Unknown(),
  data: Type.Record(Type.String(), Type.Unknown()),
  syncLogId: Nullable(Type.String()),
  attemptsMade: Type.Integer(),
  failedReason: Nullable(Type.String()),
  result: Type.Unknown(),
  createdAt: Nullable(DateTime),
  processedAt: Nullable(DateTime),
  finishedAt: Nullable(DateTime),
})

export const CancelSchema = Type.Object({ jobId: Type.String(), state: Type.String() })

export const SyncLogListQuery = Type.Object(
  {
    venueId: Type.Optional(UuidString),
    connectionId: Type.Optional(UuidString),
    provider: Type.Optional(ProviderParam),
    entity: Type.Optional(EntityParam),
    status: Type.Optional(StringEnum(SYNC_STATUSES)),
    limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
)
export type SyncLogList = Static<typeof SyncLogListQuery>
export const SyncLogPageSchema = Type.Object({ data: Type.Array(SyncLogSchema), nextCursor: Nullable(Type.String()) })

export const RecordListQuery = Type.Object(
  {
    venueId: UuidString,
    provider: Type.Optional(ProviderParam),
    entity: Type.Optional(EntityParam),
    /** Changed-since cursor: every create, update and deletion after it, in change order. */
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
    includeRaw: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
)
export type RecordList = Static<typeof RecordListQuery>
export const RecordSchema = Type.Object({
  connectionId: UuidString,
  provider: Type.String(),
  entity: Type.String(),
  externalId: Type.String(),
  data: Type.Unknown(),
  raw: Type.Optional(Type.Unknown()),
  deleted: Type.Boolean(),
  deletedAt: Nullable(DateTime),
  updatedAt: DateTime,
})
/**
 * Like every list: `nextCursor` is null on the last page. A changed-since feed also answers where
 * to continue once everything was read: `resumeCursor`, never null.
 */
export const RecordPageSchema = Type.Object({
  data: Type.Array(RecordSchema),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
  resumeCursor: Type.String({
    description:
      "Where to read from next time, on every page: after the last record returned, or the request's own position when none was. A client that has read to the end (nextCursor null) keeps it and passes it as `cursor` to get only what changed since.",
  }),
})
export type RecordPage = Static<typeof RecordPageSchema>

const TRANSFORMS = ['none', 'lowercase', 'uppercase', 'trim', 'string', 'number', 'boolean', 'date'] as const
export const FieldMappingBody = Type.Object(
  {
    provider: ProviderParam,
    entity: EntityParam,
    sourcePath: Type.String({
      minLength: 1,
      maxLength: 200,
      pattern: '^(?!(?:.*\\.)?(?:__proto__|constructor|prototype)(?:\\.|$))[A-Za-z0-9_]+(\\.[A-Za-z0-9_]+)*$',
      description: 'Dot path into the provider record, e.g. metadata.loyalty_tier (no __proto__, constructor or prototype segment)',
    }),
    targetField: Type.String({ pattern: '^(?!(?:constructor|prototype)$)[a-zA-Z][a-zA-Z0-9_]{0,63}$', description: 'Lands in record data as custom.<targetField> (not constructor or prototype)' }),
    transform: Type.Optional(StringEnum(TRANSFORMS, { default: 'none' })),
  },
  { additionalProperties: false },
)
export type FieldMappingInput = Static<typeof FieldMappingBody>
export const FieldMappingPatch = Type.Object(
  {
    sourcePath: Type.Optional(FieldMappingBody.properties.sourcePath),
    // No default here: a default would fill in `{}` (making it pass minProperties) and reset the transform.
    transform: Type.Optional(StringEnum(TRANSFORMS)),
  },
  { additionalProperties: false, minProperties: 1 },
)
export const FieldMappingSchema = Type.Object({
  id: UuidString,
  provider: Type.String(),
  entity: Type.String(),
  sourcePath: Type.String(),
  targetField: Type.String(),
  transform: Type.String(),
  createdAt: DateTime,
  updatedAt: DateTime,
})
export const FieldMappingListQuery = Type.Object(
  { provider: Type.Optional(ProviderParam), entity: Type.Optional(EntityParam), limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }), cursor: Type.Optional(Type.String({ maxLength: 512 })) },
  { additionalProperties: false },
)
export type FieldMappingList = Static<typeof FieldMappingListQuery>
export const FieldMappingPageSchema = Type.Object({ data: Type.Array(FieldMappingSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) })
export const IdParams = Type.Object({ id: UuidString }, { additionalProperties: false })

export const Problems = { 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema, 409: ProblemSchema, 413: ProblemSchema, 429: ProblemSchema, 503: ProblemSchema }
