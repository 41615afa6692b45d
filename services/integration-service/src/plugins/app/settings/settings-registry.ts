// The typed keys each integration type accepts. A key marked `secret: true` is encrypted at rest
// and only ever shown masked; every other key is stored and shown as it is. Adding a key here is
// all it takes for the API to accept it.
import { Type, type Static, type TObject, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { PROVIDER_NAMES, type ValidationIssue } from '@hub/contracts'

/** The `format` member of an export file. */
export const EXPORT_FORMAT = 'venue-hub.integration-settings/v1'

/** One settings type per provider: a new provider does not compile until it has a schema below. */
export const INTEGRATION_TYPES = PROVIDER_NAMES
export type IntegrationType = (typeof INTEGRATION_TYPES)[number]

/** How often the sync engine runs a scheduled incremental sync. */
export const SYNC_SCHEDULES = ['off', 'every_15_minutes', 'hourly', 'daily'] as const
export type SyncSchedule = (typeof SYNC_SCHEDULES)[number]

const SyncSchedule = Type.Union([Type.Literal('off'), Type.Literal('every_15_minutes'), Type.Literal('hourly'), Type.Literal('daily')], {
  description: `How often scheduled syncs run: ${SYNC_SCHEDULES.join(', ')}.`,
})
const ProviderId = (description: string) => Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$', description })
const secret = (description: string) => Type.String({ minLength: 8, maxLength: 512, secret: true, description })

export const SETTINGS_SCHEMAS = {
  stripe: Type.Object(
    {
      syncSchedule: Type.Optional(SyncSchedule),
      payoutReporting: Type.Optional(Type.Boolean({ description: 'Import payouts alongside payments for reconciliation.' })),
    },
    { additionalProperties: false },
  ),
  square: Type.Object(
    {
      locationIds: Type.Optional(Type.Array(ProviderId('A Square location id.'), { maxItems: 50, uniqueItems: true, description: 'Locations to sync; empty or unset means all.' })),
      syncSchedule: Type.Optional(SyncSchedule),
    },
    { additionalProperties: false },
  ),
  mailchimp: Type.Object(
    {
      audienceId: Type.Optional(ProviderId('The Mailchimp audience (list) contacts are synced into.')),
      doubleOptIn: Type.Optional(Type.Boolean({ description: 'New contacts get a confirmation e-mail before they are subscribed.' })),
      syncSchedule: Type.Optional(SyncSchedule),
      defaultTags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 50, uniqueItems: true, description: 'Tags added to every synced contact.' })),
    },
    { additionalProperties: false },
  ),
  quickbooks: Type.Object(
    {
      incomeAccountId: Type.Optional(ProviderId('The QuickBooks income account sales receipts are booked to.')),
      depositAccountId: Type.Optional(ProviderId('The QuickBooks account payments are deposited to.')),
      syncSchedule: Type.Optional(SyncSchedule),
      webhookVerifierToken: Type.Optional(secret("The venue's own QuickBooks webhook verifier token.")),
    },
    { additionalProperties: false },
  ),
} satisfies Record<IntegrationType, TObject>

/** The settings of one type as the sync engine reads them. */
export type SettingsOf<T extends IntegrationType> = Static<(typeof SETTINGS_SCHEMAS)[T]>
export type SettingsValues = Record<string, unknown>

export function isIntegrationType(value: string): value is IntegrationType {
  return (INTEGRATION_TYPES as readonly string[]).includes(value)
}

const propertiesOf = (type: IntegrationType): Record<string, TSchema> => SETTINGS_SCHEMAS[type].properties as Record<string, TSchema>

/** Keys of a type whose values are encrypted and masked. */
export function secretKeysOf(type: IntegrationType): string[] {
  return Object.entries(propertiesOf(type))
    .filter(([, schema]) => (schema as { secret?: unknown }).secret === true)
    .map(([key]) => key)
}

export function isSecretKey(type: IntegrationType, key: string): boolean {
  return (propertiesOf(type)[key] as { secret?: unknown } | undefined)?.secret === true
}

export function isKnownKey(type: IntegrationType, key: string): boolean {
  return Object.hasOwn(propertiesOf(type), key)
}

function messageOf(error: { message: string; schema: TSchema }): string {
  const options = (error.schema.anyOf as Array<{ const?: unknown }> | undefined)?.map((member) => member.const)
  if (options && options.every((option) => typeof option === 'string')) return `must be one of: ${options.join(', ')}`
  if (error.message === 'Unexpected property') return 'is not a setting of this integration type'
  return error.message
}

/**
 * Checks a complete settings document against its type. Issues name the path (under `prefix`)
 * and what is wrong, never the offending value: it may be a secret.
 */
export function validateSettings(type: IntegrationType, values: SettingsValues, prefix: string): ValidationIssue[] {
  const issues = new Map<string, string>()
  for (const error of Value.Errors(SETTINGS_SCHEMAS[type], values)) {
    if (!issues.has(error.path)) issues.set(error.path, messageOf(error))
  }
  return [...issues].map(([path, message]) => ({ path: `${prefix}${path}`, message }))
}

/** A description of every type's keys, for clients building a settings form. */
export function describeTypes(): Array<{ type: IntegrationType; keys: Array<{ key: string; secret: boolean; schema: unknown }> }> {
  return INTEGRATION_TYPES.map((type) => ({
    type,
    keys: Object.entries(propertiesOf(type)).map(([key, schema]) => ({ key, secret: isSecretKey(type, key), schema: JSON.parse(JSON.stringify(schema)) as unknown })),
  }))
}
