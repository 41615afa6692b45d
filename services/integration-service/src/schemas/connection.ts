import { Type, type Static } from '@sinclair/typebox'
import { StringEnum, ProblemSchema, PROVIDER_NAMES, UuidString } from '@hub/contracts'

const DateTime = Type.String({ format: 'date-time' })

export const ProviderParam = StringEnum(PROVIDER_NAMES)
export const ConnectionStatusSchema = StringEnum(['pending', 'active', 'error', 'needs_reauth', 'disconnected'] as const)

/** What a connection looks like from outside: secrets only ever masked. */
export const ConnectionSchema = Type.Object({
  id: UuidString,
  tenantId: UuidString,
  venueId: UuidString,
  provider: ProviderParam,
  authType: StringEnum(['api_key', 'oauth2'] as const),
  status: ConnectionStatusSchema,
  statusReason: Type.Union([Type.String(), Type.Null()]),
  accountId: Type.Union([Type.String(), Type.Null()]),
  accountName: Type.Union([Type.String(), Type.Null()]),
  credentials: Type.Record(Type.String(), Type.String(), { description: 'Masked values, e.g. sk_test_…9f2a' }),
  webhook: Type.Object({ registered: Type.Boolean(), endpointId: Type.Union([Type.String(), Type.Null()]) }),
  tokenExpiresAt: Type.Union([DateTime, Type.Null()]),
  createdBy: Type.String(),
  createdAt: DateTime,
  updatedAt: DateTime,
  disconnectedAt: Type.Union([DateTime, Type.Null()]),
})
export type ConnectionView = Static<typeof ConnectionSchema>

const Secret = Type.String({ minLength: 1, maxLength: 512 })

export const CreateConnectionBody = Type.Object(
  {
    venueId: UuidString,
    provider: ProviderParam,
    credentials: Type.Object({ apiKey: Secret }, { additionalProperties: false }),
    /** The provider's webhook signing secret, when the venue registered the endpoint itself. */
    webhookSecret: Type.Optional(Secret),
  },
  { additionalProperties: false },
)
export type CreateConnection = Static<typeof CreateConnectionBody>

export const UpdateConnectionBody = Type.Object(
  {
    credentials: Type.Optional(Type.Object({ apiKey: Secret }, { additionalProperties: false })),
    webhookSecret: Type.Optional(Secret),
  },
  { additionalProperties: false, minProperties: 1 },
)
export type UpdateConnection = Static<typeof UpdateConnectionBody>

export const ListConnectionsQuery = Type.Object(
  {
    venueId: Type.Optional(UuidString),
    provider: Type.Optional(ProviderParam),
    status: Type.Optional(ConnectionStatusSchema),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
)
export type ListConnections = Static<typeof ListConnectionsQuery>

export const ConnectionPageSchema = Type.Object({ data: Type.Array(ConnectionSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) })
export const ConnectionParams = Type.Object({ id: UuidString }, { additionalProperties: false })
export const TestResultSchema = Type.Object({ ok: Type.Boolean(), status: ConnectionStatusSchema, accountId: Type.Union([Type.String(), Type.Null()]), detail: Type.Union([Type.String(), Type.Null()]) })

export const AuthorizeQuery = Type.Object({ venueId: UuidString }, { additionalProperties: false })
export const AuthorizeResponse = Type.Object({ authorizeUrl: Type.String(), state: Type.String(), expiresAt: DateTime })
export const ProviderParams = Type.Object({ provider: ProviderParam }, { additionalProperties: false })
export const CallbackQuery = Type.Object(
  {
    code: Type.Optional(Type.String({ maxLength: 2048 })),
    state: Type.Optional(Type.String({ maxLength: 256 })),
    error: Type.Optional(Type.String({ maxLength: 256 })),
    error_description: Type.Optional(Type.String({ maxLength: 1024 })),
    realmId: Type.Optional(Type.String({ maxLength: 64 })),
    scope: Type.Optional(Type.String({ maxLength: 1024 })),
  },
  { additionalProperties: true },
)

export const Problems = { 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema, 409: ProblemSchema, 413: ProblemSchema, 422: ProblemSchema, 429: ProblemSchema, 502: ProblemSchema, 503: ProblemSchema }
