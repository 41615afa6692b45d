import { Type, type Static } from '@sinclair/typebox'
import { KeyRing } from '@hub/crypto'
import { COMMON_SECRETS, CommonEnv, DatabaseEnv, parseConfig } from '@hub/service-kit'

const Url = Type.String({ pattern: '^https?://' })
/** A request budget such as `25/1s` or `500/1m`. */
const RATE = '^[1-9][0-9]*/[1-9][0-9]*(ms|s|m)$'

export const IntegrationServiceEnv = Type.Object({
  ...CommonEnv,
  ...DatabaseEnv,
  INTEGRATION_SERVICE_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3009 }),
  VENUE_SERVICE_URL: Type.String({ pattern: '^https?://', default: 'http://127.0.0.1:3002' }),
  COMPLIANCE_SERVICE_URL: Type.String({ pattern: '^https?://', default: 'http://127.0.0.1:3010' }),
  /** Pause between audit outbox deliveries to compliance-service; 0 runs no timer. */
  AUDIT_RELAY_INTERVAL_MS: Type.Integer({ minimum: 0, maximum: 600_000, default: 1000 }),
  /** JSON key ring `{"<version>":"<base64 32 bytes>"}` for credentials at rest. */
  ENCRYPTION_KEYS: Type.String({ minLength: 2 }),
  STRIPE_API_BASE: Type.String({ pattern: '^https?://', default: 'https://api.stripe.com' }),
  SQUARE_API_BASE: Type.String({ pattern: '^https?://', default: 'https://connect.squareup.com' }),
  MAILCHIMP_API_BASE: Type.String({ pattern: '^https?://', default: 'https://server.api.mailchimp.com' }),
  QUICKBOOKS_API_BASE: Type.String({ pattern: '^https?://', default: 'https://quickbooks.api.intuit.com' }),
  STRIPE_OAUTH_BASE: Type.Optional(Url),
  SQUARE_OAUTH_BASE: Type.Optional(Url),
  MAILCHIMP_OAUTH_BASE: Type.Optional(Url),
  QUICKBOOKS_OAUTH_BASE: Type.Optional(Url),
  STRIPE_CONNECT_CLIENT_ID: Type.Optional(Type.String({ minLength: 1 })),
  STRIPE_PLATFORM_SECRET_KEY: Type.Optional(Type.String({ minLength: 8 })),
  SQUARE_CLIENT_ID: Type.Optional(Type.String({ minLength: 1 })),
  SQUARE_CLIENT_SECRET: Type.Optional(Type.String({ minLength: 8 })),
  MAILCHIMP_CLIENT_ID: Type.Optional(Type.String({ minLength: 1 })),
  MAILCHIMP_CLIENT_SECRET: Type.Optional(Type.String({ minLength: 8 })),
  QUICKBOOKS_CLIENT_ID: Type.Optional(Type.String({ minLength: 1 })),
  QUICKBOOKS_CLIENT_SECRET: Type.Optional(Type.String({ minLength: 8 })),
  QUICKBOOKS_WEBHOOK_VERIFIER: Type.Optional(Type.String({ minLength: 8 })),
  /** Public base URL of the gateway: webhook and OAuth callback URLs are built from it. */
  PUBLIC_URL: Type.String({ pattern: '^https?://', default: 'http://127.0.0.1:3000' }),
  /** Where the browser is sent after an OAuth callback (outcome in the query string). */
  OAUTH_RETURN_URL: Type.String({ pattern: '^https?://', default: 'http://127.0.0.1:3000/oauth-complete' }),
  /** Tenants whose admins may use the global queue controls (comma-separated; empty: any admin). */
  OPERATOR_TENANT_IDS: Type.String({ default: '' }),
  /** The integration-worker process (queue processors): health, readiness and metrics only. */
  INTEGRATION_WORKER_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3019 }),
  /** The worker's metrics listener (the API process uses METRICS_PORT); default 9468. */
  METRICS_WORKER_PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  /** Jobs each worker process runs at once, per queue. */
  SYNC_CONCURRENCY_CRITICAL: Type.Integer({ minimum: 1, maximum: 100, default: 8 }),
  SYNC_CONCURRENCY_HIGH: Type.Integer({ minimum: 1, maximum: 100, default: 4 }),
  SYNC_CONCURRENCY_NORMAL: Type.Integer({ minimum: 1, maximum: 100, default: 4 }),
  SYNC_CONCURRENCY_LOW: Type.Integer({ minimum: 1, maximum: 100, default: 2 }),
  /** Attempts per job before it lands in the dead-letter list. */
  SYNC_JOB_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 50, default: 6 }),
  /** Full-jitter exponential backoff between attempts: random(0, min(max, base * 2^attempt)). */
  SYNC_BACKOFF_BASE_MS: Type.Integer({ minimum: 1, default: 2_000 }),
  SYNC_BACKOFF_MAX_MS: Type.Integer({ minimum: 1, default: 300_000 }),
  /**
   * Bull job lock (renewed every half of it): a worker that stops renewing it (killed) loses its
   * job to another once it lapses and the next stalled check runs, so a killed worker's run is
   * resumed within about lock + stalled interval (6.5 s by default). Raise both only for workers
   * whose event loop can stall for seconds.
   */
  SYNC_LOCK_DURATION_MS: Type.Integer({ minimum: 1_000, default: 5_000 }),
  SYNC_STALLED_INTERVAL_MS: Type.Integer({ minimum: 500, default: 1_500 }),
  SYNC_MAX_STALLED_COUNT: Type.Integer({ minimum: 1, default: 5 }),
  /** Provider waits up to this long are slept inside the job; longer ones reschedule it. */
  SYNC_MAX_INLINE_WAIT_MS: Type.Integer({ minimum: 0, default: 60_000 }),
  /**
   * Request budgets per provider account, shared by every worker through Redis, as
   * "<requests>/<window>" with the window in ms, s or m. Defaults are the documented limits:
   * Stripe 25/s (test mode; live mode allows 100/s), Square 20/s, Mailchimp 10 concurrent
   * connections (about 10/s), QuickBooks 500 per minute per realm.
   */
  SYNC_RATE_LIMIT_STRIPE: Type.String({ pattern: RATE, default: '25/1s' }),
  SYNC_RATE_LIMIT_SQUARE: Type.String({ pattern: RATE, default: '20/1s' }),
  SYNC_RATE_LIMIT_MAILCHIMP: Type.String({ pattern: RATE, default: '10/1s' }),
  SYNC_RATE_LIMIT_QUICKBOOKS: Type.String({ pattern: RATE, default: '500/1m' }),
  /** Circuit breaker per connection: consecutive provider outages that open it, and for how long. */
  SYNC_BREAKER_FAILURES: Type.Integer({ minimum: 1, default: 5 }),
  SYNC_BREAKER_OPEN_MS: Type.Integer({ minimum: 100, default: 30_000 }),
  /**
   * How often the worker puts Redis back in line with Postgres (runs whose job was lost are
   * re-enqueued and resume from their checkpoint; schedules are restored from settings).
   */
  SYNC_RECONCILE_INTERVAL_MS: Type.Integer({ minimum: 100, default: 60_000 }),
  /** How often the worker re-enqueues stored webhook events that never reached Redis. */
  SYNC_WEBHOOK_RELAY_INTERVAL_MS: Type.Integer({ minimum: 100, default: 15_000 }),
  /** An event handed to the queue this long ago and still unprocessed is handed over again (its job may be lost with Redis). */
  SYNC_WEBHOOK_REQUEUE_AFTER_MS: Type.Integer({ minimum: 1_000, default: 600_000 }),
  /** Outbound (tenant) webhook deliveries each worker process makes at once, on their own queue. */
  OUTBOUND_WEBHOOK_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 200, default: 10 }),
  /** Budget of one delivery request (connect, headers and body). */
  OUTBOUND_WEBHOOK_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 15_000 }),
  /**
   * Waits before each attempt of a message, comma-separated durations (ms, s, m, h): the Standard
   * Webhooks schedule by default, about 32 hours in all. Tests compress it.
   */
  OUTBOUND_WEBHOOK_RETRY_SCHEDULE: Type.String({ pattern: '^\\s*\\d+(ms|s|m|h)(\\s*,\\s*\\d+(ms|s|m|h))*\\s*$', default: '0s,5s,5m,30m,2h,5h,10h,10h' }),
  /** An endpoint whose every attempt failed for this long, and at least this many times, is disabled. */
  OUTBOUND_WEBHOOK_DISABLE_AFTER_MS: Type.Integer({ minimum: 0, default: 5 * 24 * 3600 * 1000 }),
  OUTBOUND_WEBHOOK_DISABLE_AFTER_FAILURES: Type.Integer({ minimum: 1, default: 20 }),
  /**
   * Development only: `host` or `host:port` entries (comma-separated) that may resolve to private or
   * loopback addresses, for local receivers. Refused in production.
   */
  OUTBOUND_WEBHOOK_ALLOWED_HOSTS: Type.String({ default: '' }),
  /** How often the worker re-enqueues due messages whose job Redis lost (Postgres holds the schedule). */
  OUTBOUND_WEBHOOK_SWEEP_INTERVAL_MS: Type.Integer({ minimum: 100, default: 15_000 }),
  /** How often the worker's retention clean-up runs on the low queue (0: no schedule). */
  RETENTION_INTERVAL_MS: Type.Integer({ minimum: 0, default: 21_600_000 }),
  /** Rows one clean-up statement deletes at most, each batch its own short transaction. */
  RETENTION_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 50_000, default: 1_000 }),
  /** Pause between two batches, so the clean-up never holds the database for long. */
  RETENTION_BATCH_PAUSE_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 50 }),
  /** Pause between event outbox relays to Redis Streams (API and worker both run it, one at a time); 0 runs no timer. */
  EVENT_RELAY_INTERVAL_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 200 }),
  /** About how many entries each event stream keeps (XADD MAXLEN ~). */
  EVENT_STREAM_MAXLEN: Type.Integer({ minimum: 100, default: 100_000 }),
  /** How long relayed events stay in the outbox, what a lost Redis is refilled from (default 7 days). */
  EVENT_OUTBOX_RETENTION_HOURS: Type.Integer({ minimum: 1, default: 168 }),
})
export type IntegrationServiceConfig = Static<typeof IntegrationServiceEnv>

/** Verifier tokens published with the development stack and tests; never valid in production. */
const KNOWN_QUICKBOOKS_VERIFIERS = new Set(['devhub-quickbooks-verifier', 'qbo-verifier-token-000000'])

export const loadConfig = (env: NodeJS.ProcessEnv = process.env): IntegrationServiceConfig =>
  parseConfig(IntegrationServiceEnv, env, {
    secrets: [...COMMON_SECRETS, 'STRIPE_PLATFORM_SECRET_KEY', 'SQUARE_CLIENT_SECRET', 'MAILCHIMP_CLIENT_SECRET', 'QUICKBOOKS_CLIENT_SECRET', 'QUICKBOOKS_WEBHOOK_VERIFIER'],
    refine: (config) => {
      const problems: string[] = []
      try {
        KeyRing.fromEnv(String(config.ENCRYPTION_KEYS))
      } catch (error) {
        problems.push(`ENCRYPTION_KEYS: ${(error as Error).message}`)
      }
      // Empty means "any tenant's admin may pause every queue": tolerable on a laptop, not in production.
      if (config.NODE_ENV === 'production' && String(config.OPERATOR_TENANT_IDS).trim() === '') {
        problems.push('OPERATOR_TENANT_IDS: required in production (the tenants whose admins operate the queues)')
      }
      if (config.NODE_ENV === 'production' && String(config.OUTBOUND_WEBHOOK_ALLOWED_HOSTS).trim() !== '') {
        problems.push('OUTBOUND_WEBHOOK_ALLOWED_HOSTS: not allowed in production (it lets tenant webhooks reach private addresses)')
      }
      // One verifier authenticates every realm's QuickBooks notifications: a missing one refuses
      // them all, and a known one lets anybody forge them.
      if (config.NODE_ENV === 'production') {
        const verifier = config.QUICKBOOKS_WEBHOOK_VERIFIER
        if (typeof verifier !== 'string') problems.push('QUICKBOOKS_WEBHOOK_VERIFIER: is required in production (the verifier token of the Intuit app)')
        else if (KNOWN_QUICKBOOKS_VERIFIERS.has(verifier) || /^devhub-/.test(verifier)) problems.push('QUICKBOOKS_WEBHOOK_VERIFIER: a development default is not allowed in production')
      }
      return problems
    },
  })
