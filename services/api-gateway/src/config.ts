import { Type, type Static } from '@sinclair/typebox'
import { COMMON_SECRETS, CommonEnv, parseConfig } from '@hub/service-kit'
import { UUID_PATTERN } from '@hub/contracts'

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
  TRUST_PROXY: Type.Boolean({ default: false }),
  PUBLIC_URL: Type.Optional(Url),
  /** The console's development sign-in mints tokens in this tenant (never in production). */
  DEMO_TENANT_ID: Type.String({ pattern: UUID_PATTERN, default: '00000000-0000-4000-8000-000000000000' }),
  /** Tenants whose admins operate the hub; the console's "operator" sign-in uses the first. */
  OPERATOR_TENANT_IDS: Type.String({ default: '' }),
  /** The console's production sign-in: the platform's OpenID Connect provider (authorization code + PKCE). */
  OIDC_ISSUER: Type.Optional(Url),
  OIDC_CLIENT_ID: Type.Optional(Type.String({ minLength: 1 })),
  /** Audience of the access tokens the console asks for; JWT_AUDIENCE when unset. */
  OIDC_AUDIENCE: Type.Optional(Type.String({ minLength: 1 })),
  OIDC_SCOPES: Type.String({ default: 'openid profile' }),
})
export type GatewayConfig = Static<typeof GatewayEnv>

export const loadConfig = (env: NodeJS.ProcessEnv = process.env): GatewayConfig => parseConfig(GatewayEnv, env, { secrets: COMMON_SECRETS })
