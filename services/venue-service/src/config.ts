import { Type, type Static } from '@sinclair/typebox'
import { COMMON_SECRETS, CommonEnv, DatabaseEnv, parseConfig } from '@hub/service-kit'

export const VenueServiceEnv = Type.Object({
  ...CommonEnv,
  ...DatabaseEnv,
  VENUE_SERVICE_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3002 }),
  COMPLIANCE_SERVICE_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  /** Pause between audit outbox deliveries to compliance-service; 0 runs no timer. */
  AUDIT_RELAY_INTERVAL_MS: Type.Integer({ minimum: 0, maximum: 600_000, default: 1000 }),
  /** Told when a venue is deleted, so its provider connections go with it. */
  INTEGRATION_SERVICE_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
})
export type VenueServiceConfig = Static<typeof VenueServiceEnv>

export const loadConfig = (env: NodeJS.ProcessEnv = process.env): VenueServiceConfig => parseConfig(VenueServiceEnv, env, { secrets: COMMON_SECRETS })
