import { Type, type Static } from '@sinclair/typebox'
import { COMMON_SECRETS, CommonEnv, parseConfig, trustProxyOption } from '@hub/service-kit'

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
  /** Edge deadlines: headers, the whole request (body included), an idle socket, an idle kept-alive socket. */
  EDGE_HEADERS_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000 }),
  EDGE_REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 30_000 }),
  EDGE_IDLE_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 30_000 }),
  EDGE_KEEP_ALIVE_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 5_000 }),
  /** Requests one caller (user of a tenant, or IP when anonymous) may have in flight at once, per replica. */
  MAX_IN_FLIGHT_PER_CLIENT: Type.Integer({ minimum: 1, maximum: 10_000, default: 32 }),
  /** How long the merged OpenAPI document is served before it is refreshed (in the background). */
  OPENAPI_CACHE_TTL_MS: Type.Integer({ minimum: 100, maximum: 86_400_000, default: 60_000 }),
  /** Sockets to each upstream per proxied route group (webhooks, OAuth and each API prefix have their own pool). */
  UPSTREAM_CONNECTIONS: Type.Integer({ minimum: 1, maximum: 1_024, default: 64 }),
  PUBLIC_URL: Type.Optional(Url),
})
export type GatewayConfig = Static<typeof GatewayEnv>

/** Listener options that follow from the configuration (server.ts and the tests build with them). */
export function edgeServerOptions(config: GatewayConfig) {
  return {
    bodyLimit: config.BODY_LIMIT_BYTES,
    // The edge trusts a load balancer only when told to (TRUST_PROXY), never by default, and
    // never takes a request id from outside.
    trustProxy: config.TRUST_PROXY ? trustProxyOption(config) : false,
    requestIds: 'generate' as const,
    timeouts: { headersMs: Math.min(config.EDGE_HEADERS_TIMEOUT_MS, config.EDGE_REQUEST_TIMEOUT_MS), requestMs: config.EDGE_REQUEST_TIMEOUT_MS, idleMs: config.EDGE_IDLE_TIMEOUT_MS, keepAliveMs: config.EDGE_KEEP_ALIVE_TIMEOUT_MS },
  }
}

export const loadConfig = (env: NodeJS.ProcessEnv = process.env): GatewayConfig => parseConfig(GatewayEnv, env, { secrets: COMMON_SECRETS })
