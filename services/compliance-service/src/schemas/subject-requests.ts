// TypeBox schemas of /api/v1/compliance/subject-requests.
import { Type, type Static } from '@sinclair/typebox'
import { Nullable, StringEnum, SubjectEmailSchema, SubjectExternalIdSchema, UuidString } from '@hub/contracts'

export const SUBJECT_REQUEST_TYPES = ['export', 'erase'] as const
export const SUBJECT_REQUEST_STATUSES = ['queued', 'running', 'succeeded', 'failed'] as const

export const CreateSubjectRequestBody = Type.Object(
  {
    type: StringEnum(SUBJECT_REQUEST_TYPES, { description: '`export`: one JSON document of everything the hub holds about the person. `erase`: their personal fields redacted everywhere, and kept redacted by later syncs.' }),
    email: Type.Optional(SubjectEmailSchema),
    externalIds: Type.Optional(Type.Array(SubjectExternalIdSchema, { minItems: 1, maxItems: 50, uniqueItems: true, description: "Provider customer ids (Stripe `cus_…`, Square, QuickBooks), across the tenant's connections" })),
  },
  { additionalProperties: false },
)
export type CreateSubjectRequest = Static<typeof CreateSubjectRequestBody>

const DateTime = Type.String({ format: 'date-time' })

export const SubjectRequestSchema = Type.Object({
  id: UuidString,
  type: StringEnum(SUBJECT_REQUEST_TYPES),
  status: StringEnum(SUBJECT_REQUEST_STATUSES),
  /** Who the request is about, masked (the identifiers themselves are kept only while it runs). */
  subject: Type.Object({ emails: Type.Array(Type.String()), externalIds: Type.Array(Type.String()) }),
  requestedBy: Type.String(),
  progress: Type.Integer({ minimum: 0, maximum: 100 }),
  step: Nullable(Type.String()),
  attempts: Type.Integer({ minimum: 0 }),
  /** Rows found (export) or redacted (erase) per table, once it ran. */
  outcome: Nullable(Type.Record(Type.String(), Type.Unknown())),
  errorCode: Nullable(Type.String()),
  createdAt: DateTime,
  startedAt: Nullable(DateTime),
  finishedAt: Nullable(DateTime),
})
export type SubjectRequestView = Static<typeof SubjectRequestSchema>

export const SubjectRequestListQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
)

export const SubjectRequestParams = Type.Object({ id: UuidString }, { additionalProperties: false })

const ExportMatch = Type.Object({ table: Type.String(), key: Type.Record(Type.String(), Type.Union([Type.String(), Type.Null()])), data: Type.Optional(Type.Unknown()) })

export const SubjectExportSchema = Type.Object({
  requestId: UuidString,
  generatedAt: DateTime,
  /** The identifiers the request named, and the provider ids the search linked to them. */
  subject: Type.Object({ emails: Type.Array(Type.String()), externalIds: Type.Array(Type.String()), linkedExternalIds: Type.Array(Type.String()) }),
  counts: Type.Record(Type.String(), Type.Integer({ minimum: 0 })),
  /** Every row found, by service: table, key and content. */
  integration: Type.Array(ExportMatch),
  compliance: Type.Array(ExportMatch),
})
export type SubjectExport = Static<typeof SubjectExportSchema>
