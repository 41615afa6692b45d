// The data-subject contract between compliance-service (which runs a person's export or erase
// request) and integration-service (which holds the provider data): find everything about a person
// in a tenant, and redact it. Identifiers travel only on these signed internal calls.
import { Type, type Static } from '@sinclair/typebox'
import { UuidString } from './string-enum.ts'

export const SUBJECT_EMAIL_MAX = 254
export const SubjectEmailSchema = Type.String({ minLength: 3, maxLength: SUBJECT_EMAIL_MAX, pattern: '^[^\\s@]+@[^\\s@]+$' })
/** A provider's id of the person (a Stripe `cus_…`, a Square customer id, a QuickBooks customer id). */
export const SubjectExternalIdSchema = Type.String({ minLength: 1, maxLength: 255, pattern: '^[^\\s]+$' })

/** Who the request is about: at least one identifier (the route checks that). */
export const SubjectIdentifiersSchema = Type.Object(
  {
    emails: Type.Array(SubjectEmailSchema, { maxItems: 10 }),
    externalIds: Type.Array(SubjectExternalIdSchema, { maxItems: 50 }),
  },
  { additionalProperties: false },
)
export type SubjectIdentifiers = Static<typeof SubjectIdentifiersSchema>

export const SubjectSearchBodySchema = Type.Object(
  {
    tenantId: UuidString,
    subject: SubjectIdentifiersSchema,
    /** With the matched rows' content (an export); without, counts and keys only. */
    includeData: Type.Boolean(),
  },
  { additionalProperties: false },
)
export type SubjectSearchBody = Static<typeof SubjectSearchBodySchema>

/** One row that holds something about the person: its table, its key, and (for an export) its content. */
export const SubjectMatchSchema = Type.Object({
  /** The table, within the service that answers. */
  table: Type.String(),
  key: Type.Record(Type.String(), Type.Union([Type.String(), Type.Null()])),
  data: Type.Optional(Type.Unknown()),
})
export type SubjectMatch = Static<typeof SubjectMatchSchema>

export const SubjectSearchResultSchema = Type.Object({
  /** The provider ids the search linked to the person (given ones and those found by email). */
  externalIds: Type.Array(Type.String()),
  counts: Type.Record(Type.String(), Type.Integer({ minimum: 0 })),
  matches: Type.Array(SubjectMatchSchema),
})
export type SubjectSearchResult = Static<typeof SubjectSearchResultSchema>

export const SubjectEraseBodySchema = Type.Object(
  {
    tenantId: UuidString,
    /** The compliance request it serves: the tombstones name it, and a repeated call changes nothing more. */
    requestId: UuidString,
    subject: SubjectIdentifiersSchema,
  },
  { additionalProperties: false },
)
export type SubjectEraseBody = Static<typeof SubjectEraseBodySchema>

export const SubjectEraseResultSchema = Type.Object({
  /** Rows redacted by this call, per table (zero everywhere when repeated). */
  redacted: Type.Record(Type.String(), Type.Integer({ minimum: 0 })),
  /** Tombstones now stored for the person (keyed hashes of the email and the provider ids). */
  tombstones: Type.Integer({ minimum: 0 }),
})
export type SubjectEraseResult = Static<typeof SubjectEraseResultSchema>
