// The public venue API (/api/v1/venues and its members, served by venue-service through the
// gateway): the schemas venue-service's routes declare, and the ones the fake venue-service in
// @hub/service-kit/testing serves, so callers' tests see what the real service answers.
import { Type, type Static } from '@sinclair/typebox'

const Uuid = Type.String({ format: 'uuid', description: 'UUID' })

export const AddressSchema = Type.Object(
  {
    line1: Type.String({ minLength: 1, maxLength: 200 }),
    line2: Type.Optional(Type.String({ maxLength: 200 })),
    city: Type.String({ minLength: 1, maxLength: 100 }),
    region: Type.Optional(Type.String({ maxLength: 100 })),
    postalCode: Type.Optional(Type.String({ maxLength: 20 })),
    country: Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2' }),
  },
  { additionalProperties: false },
)

const Name = Type.String({ minLength: 1, maxLength: 200 })
const Slug = Type.String({ pattern: '^[a-z0-9]+(-[a-z0-9]+)*$', maxLength: 64, description: 'URL-safe, unique per tenant' })
const Timezone = Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone, e.g. Europe/London' })
const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' })
const Capacity = Type.Union([Type.Integer({ minimum: 0, maximum: 1_000_000 }), Type.Null()])

export const VENUE_STATUSES = ['active', 'archived'] as const
export const VenueStatus = Type.Union(VENUE_STATUSES.map((s) => Type.Literal(s)))

export const VenueSchema = Type.Object({
  id: Uuid,
  tenantId: Uuid,
  name: Type.String(),
  slug: Type.String(),
  timezone: Type.String(),
  currency: Type.String(),
  address: Type.Union([AddressSchema, Type.Null()]),
  capacity: Capacity,
  status: VenueStatus,
  createdBy: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  archivedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
})
export type Venue = Static<typeof VenueSchema>

export const CreateVenueBody = Type.Object(
  {
    name: Name,
    slug: Type.Optional(Slug),
    timezone: Timezone,
    currency: Currency,
    address: Type.Optional(Type.Union([AddressSchema, Type.Null()])),
    capacity: Type.Optional(Capacity),
  },
  { additionalProperties: false },
)
export type CreateVenue = Static<typeof CreateVenueBody>

export const UpdateVenueBody = Type.Object(
  {
    name: Type.Optional(Name),
    slug: Type.Optional(Slug),
    timezone: Type.Optional(Timezone),
    currency: Type.Optional(Currency),
    address: Type.Optional(Type.Union([AddressSchema, Type.Null()])),
    capacity: Type.Optional(Capacity),
  },
  { additionalProperties: false, minProperties: 1 },
)
export type UpdateVenue = Static<typeof UpdateVenueBody>

// A cursor is accepted up to the length the server can issue: decodeCursor (@hub/service-kit)
// reads up to 2048 characters, and the longest key (a 200-character name or user id, up to six
// bytes of JSON each, then base64url) stays under that. 512 stopped paging at long non-ASCII names.
const Cursor = Type.String({ maxLength: 2048, description: 'The `nextCursor` of the previous page, passed back untouched' })

export const VENUE_SORTS = ['created_at', '-created_at', 'name', '-name'] as const

export const ListVenuesQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Cursor),
    sort: Type.Union(
      VENUE_SORTS.map((s) => Type.Literal(s)),
      { default: '-created_at' },
    ),
    status: Type.Optional(VenueStatus),
    currency: Type.Optional(Currency),
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Case-insensitive match on name or slug' })),
  },
  { additionalProperties: false },
)
export type ListVenues = Static<typeof ListVenuesQuery>

export const VenuePageSchema = Type.Object({
  data: Type.Array(VenueSchema),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
})

export const VenueParams = Type.Object({ id: Uuid }, { additionalProperties: false })

export const MEMBER_ROLES = ['manager', 'viewer'] as const
export const MemberSchema = Type.Object({
  venueId: Uuid,
  userId: Type.String(),
  role: Type.Union(MEMBER_ROLES.map((r) => Type.Literal(r))),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
})
export type Member = Static<typeof MemberSchema>
export const MemberParams = Type.Object({ id: Uuid, userId: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^/\\s]+$' }) }, { additionalProperties: false })
export const PutMemberBody = Type.Object({ role: Type.Union(MEMBER_ROLES.map((r) => Type.Literal(r))) }, { additionalProperties: false })

export const ListMembersQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
)
export type ListMembers = Static<typeof ListMembersQuery>
export const MemberPageSchema = Type.Object({ data: Type.Array(MemberSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) })
