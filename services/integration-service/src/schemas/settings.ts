// HTTP shapes of /api/v1/integrations/settings. The keys each integration type accepts are checked
// by the service against settings-registry.ts, so bodies carry `settings` as an open record here.
import { Type, type Static } from '@sinclair/typebox'
import { ProblemSchema, StringEnum, UuidString } from '@hub/contracts'
import { EXPORT_FORMAT, INTEGRATION_TYPES } from '../plugins/app/settings/settings-registry.ts'

const DateTime = Type.String({ format: 'date-time' })
const NullableUuid = Type.Union([UuidString, Type.Null()])
const Version = Type.Integer({ minimum: 0, maximum: 2_147_483_647 })
const Values = Type.Record(Type.String(), Type.Unknown(), { description: 'Setting key → value; secret keys appear masked.' })
/** Input values: typed per integration type by the service; `null` removes a key. */
const InputValues = Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 64, description: 'Setting key → value; `null` removes the key.' })
const TypeName = Type.String({ minLength: 1, maxLength: 64, description: `One of: ${INTEGRATION_TYPES.join(', ')}.` })

export const SettingsTypeParams = Type.Object({ type: TypeName }, { additionalProperties: false })
export const SettingsVersionParams = Type.Object({ type: TypeName, version: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) }, { additionalProperties: false })
export const SettingsSecretParams = Type.Object({ type: TypeName, key: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false })

export const SettingsScopeQuery = Type.Object({ venueId: Type.Optional(UuidString) }, { additionalProperties: false, description: 'Without venueId: the tenant-wide settings.' })
export type SettingsScopeQueryType = Static<typeof SettingsScopeQuery>

export const SettingsVersionsQuery = Type.Object(
  {
    venueId: Type.Optional(UuidString),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
)

export const SettingsWriteBody = Type.Object(
  {
    settings: InputValues,
    /** The version this write was based on; the `If-Match` header says the same. */
    expectedVersion: Type.Optional(Version),
  },
  { additionalProperties: false },
)
export type SettingsWrite = Static<typeof SettingsWriteBody>

export const SettingsRollbackBody = Type.Object({ expectedVersion: Type.Optional(Version) }, { additionalProperties: false })

/** An export file, posted back as it is (or written by hand: only `settings` is required). */
export const SettingsImportBody = Type.Object(
  {
    format: Type.Optional(Type.Literal(EXPORT_FORMAT)),
    type: Type.Optional(Type.String({ maxLength: 64 })),
    venueId: Type.Optional(NullableUuid),
    version: Type.Optional(Version),
    exportedAt: Type.Optional(Type.String({ maxLength: 64 })),
    omittedSecrets: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 64 })),
    settings: InputValues,
    expectedVersion: Type.Optional(Version),
  },
  { additionalProperties: false },
)
export type SettingsImportFile = Static<typeof SettingsImportBody>

const IntegrationTypeSchema = StringEnum(INTEGRATION_TYPES)

export const SettingChangeSchema = Type.Object({
  key: Type.String(),
  op: StringEnum(['added', 'changed', 'removed'] as const),
  secret: Type.Boolean(),
  before: Type.Unknown({ description: 'null when absent; masked for secret keys' }),
  after: Type.Unknown({ description: 'null when absent; masked for secret keys' }),
})

export const SettingsDocumentSchema = Type.Object({
  type: IntegrationTypeSchema,
  venueId: NullableUuid,
  scope: StringEnum(['tenant', 'venue'] as const),
  version: Version,
  settings: Values,
  secretKeys: Type.Array(Type.String(), { description: 'Keys whose values are masked secrets.' }),
  updatedAt: Type.Union([DateTime, Type.Null()]),
  updatedBy: Type.Union([Type.String(), Type.Null()]),
})

export const SettingsWriteResultSchema = Type.Object({ ...SettingsDocumentSchema.properties, changes: Type.Array(SettingChangeSchema) })

export const SettingsEffectiveSchema = Type.Object({
  type: IntegrationTypeSchema,
  venueId: NullableUuid,
  settings: Values,
  secretKeys: Type.Array(Type.String()),
  sources: Type.Record(Type.String(), StringEnum(['tenant', 'venue'] as const), { description: 'Which document each key comes from.' }),
  versions: Type.Object({ tenant: Version, venue: Type.Union([Version, Type.Null()]) }),
})

const VersionSummaryProperties = {
  version: Version,
  kind: StringEnum(['replace', 'patch', 'rollback', 'import'] as const),
  rolledBackFrom: Type.Union([Version, Type.Null()]),
  createdBy: Type.String(),
  createdAt: DateTime,
  changes: Type.Array(SettingChangeSchema),
}
export const SettingsVersionPageSchema = Type.Object({ data: Type.Array(Type.Object(VersionSummaryProperties)), nextCursor: Type.Union([Type.String(), Type.Null()]) })
export const SettingsVersionSchema = Type.Object({ ...VersionSummaryProperties, type: IntegrationTypeSchema, venueId: NullableUuid, settings: Values, secretKeys: Type.Array(Type.String()) })

export const SettingsExportSchema = Type.Object({
  format: Type.Literal(EXPORT_FORMAT),
  type: IntegrationTypeSchema,
  venueId: NullableUuid,
  version: Version,
  exportedAt: DateTime,
  settings: Values,
  omittedSecrets: Type.Array(Type.String(), { description: 'Secret keys set at this scope and left out of the file.' }),
})

export const SettingsSecretSchema = Type.Object({ type: IntegrationTypeSchema, venueId: NullableUuid, key: Type.String(), version: Version, value: Type.String() })

export const SettingsTypesSchema = Type.Object({
  types: Type.Array(Type.Object({ type: IntegrationTypeSchema, keys: Type.Array(Type.Object({ key: Type.String(), secret: Type.Boolean(), schema: Type.Unknown() })) })),
})

export const SettingsProblems = { 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema, 409: ProblemSchema, 413: ProblemSchema, 429: ProblemSchema }
