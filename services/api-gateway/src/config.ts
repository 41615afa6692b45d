import { Type, type Static } from '@sinclair/typebox'
import { COMMON_SECRETS, CommonEnv, parseConfig } from '@hub/service-kit'

const Url = Type.String({ pattern: '^https?://' })

export const GatewayEnv = Type.Object({
  ...CommonEnv,
  API_GATEWAY_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  VENUE_SERVICE_URL: Type.String({ pattern: '^https?://', default: 'http://127.0.0.1:3002' }),
  INTEGRATION_SERVICE_URL: Type.String({ pattern: '^https?://', default: 'http://127.0.0.1:3009' }),
  COMPLIANCE_SERVICE_URL: Type.String({ pattern: '^https?://', default: 'http://127.0.0.1:3010' }),
  /** Comma-separated origins allowed by CORS; empty allows none. */
  CORS_ORIGINS: Type.String({ default: '' }),
  UPSTREAM_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000 }),
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, maximum: 50 * 1024 * 1024, default: 1024 * 1024 }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 1000, default: 60_000 }),
  /** Requests per window per authenticated user. */
  RATE_LIMIT_USER_MAX: Type.Integer({ minimum: 1, default: 600 }),
  /** Requests per window per IP for anonymous callers (webhooks, failed auth). */
  RATE_LIMIT_ANONYMOUS_MAX: Type.Integer({ minimum: 1, default: 300 }),
  /** Writes to credential and configuration routes per window per user. */
  RATE_LIMIT_SENSITIVE_MAX: Type.Integer({ minimum: 1, default: 30 }),
  /** A Redis rate-limit call slower than this is decided by the per-instance in-memory limiter instead. */
  RATE_LIMIT_REDIS_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 100 }),
  TRUST_PROXY: Type.Boolean({ default: false }),
  PUBLIC_URL: Type.Optional(Url),
})
export type GatewayConfig = Static<typeof GatewayEnv>

export const loadConfig = (env: NodeJS.ProcessEnv = process.env): GatewayConfig => parseConfig(GatewayEnv, env, { secrets: COMMON_SECRETS })
