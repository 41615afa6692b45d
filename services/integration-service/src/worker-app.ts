// The integration-worker process as one Fastify plugin: the kit (health, readiness, metrics,
// Postgres, Redis), the app plugins the processors need, and the sync engine. No API routes, no
// webhook intake, no public sync API:
// the worker only serves operators (health, ready, metrics) and runs the queue processors.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { internalPermissions, serviceKit } from '@hub/service-kit'
import syncLogs from './plugins/app/sync-logs/index.ts'
import hubEvents from './plugins/app/events/index.ts'
import connections from './plugins/app/connections/index.ts'
import syncEngine from './plugins/app/sync/index.ts'
import subjectData from './plugins/app/subject-data/index.ts'
import integrationSettings from './plugins/app/settings/index.ts'
import outboundWebhooks from './plugins/app/outbound-webhooks/index.ts'
import type { Resolver } from './plugins/app/outbound-webhooks/url-guard.ts'
import retention from './plugins/app/retention/index.ts'
import type { RetentionPlan } from '@hub/contracts'
import reconciliation from './plugins/app/reconciliation/index.ts'
import { SERVICE_NAME } from './app.ts'
import type { IntegrationServiceConfig } from './config.ts'
import { INTEGRATION_SCHEMA, INTEGRATION_TABLES } from './db/schema.ts'
import type { ProviderName } from './providers/canonical.ts'
import type { ProviderAdapter } from './providers/provider-adapter.ts'

export const WORKER_NAME = 'integration-worker'

export interface IntegrationWorkerOptions {
  config: IntegrationServiceConfig
  /** Tests swap a provider adapter in by construction. */
  adapters?: Partial<Record<ProviderName, ProviderAdapter>>
  resolver?: Resolver
  /** Tests swap compliance-service's retention answer in by construction. */
  retentionPlan?: (tenantIds: string[]) => Promise<RetentionPlan>
}

async function integrationWorker(fastify: FastifyInstance, opts: IntegrationWorkerOptions): Promise<void> {
  const { config } = opts
  await fastify.register(serviceKit, {
    service: WORKER_NAME,
    maxEventLoopDelayMs: config.MAX_EVENT_LOOP_DELAY_MS,
    // METRICS_PORT=0 (any free port) holds for the worker too, so tests never collide.
    metrics: { port: config.METRICS_WORKER_PORT ?? (config.METRICS_PORT === 0 ? 0 : undefined), host: config.METRICS_HOST ?? config.HOST },
    description: 'Queue processors of integration-service: syncs, pushes and webhook events.',
    databaseUrl: config.DATABASE_URL,
    databasePoolMax: config.DATABASE_POOL_MAX,
    databaseSchema: INTEGRATION_SCHEMA,
    redisUrl: config.REDIS_URL,
    redisPrefix: config.REDIS_KEY_PREFIX,
    // Writes its refusals to integration-service's outbox; that service's relay delivers them.
    securityEventBuffer: { table: INTEGRATION_TABLES.securityEventOutbox },
    securityEventWindowMs: config.SECURITY_EVENT_WINDOW_MS,
    // Signs its calls (venue lookups) as integration-service: it is that service's worker.
    internal: { service: SERVICE_NAME, keysJson: config.INTERNAL_AUTH_KEYS, permissions: internalPermissions(config.INTERNAL_PERMISSIONS, {}) },
  })
  await fastify.register(syncLogs)
  await fastify.register(hubEvents, { intervalMs: config.EVENT_RELAY_INTERVAL_MS, maxLen: config.EVENT_STREAM_MAXLEN, retentionHours: config.EVENT_OUTBOX_RETENTION_HOURS })
  await fastify.register(connections, { config, ...(opts.adapters ? { adapters: opts.adapters } : {}) })
  await fastify.register(subjectData, { config })
  await fastify.register(syncEngine, { config })
  // The reconciler restores schedules from each integration's settings.
  await fastify.register(integrationSettings)
  // Tenant webhook deliveries: their own queue and concurrency (started by worker.ts).
  await fastify.register(outboundWebhooks, { config, ...(opts.resolver ? { resolver: opts.resolver } : {}) })
  // The clean-up of records, webhook payloads and sync logs, on the low queue (worker.ts starts it).
  await fastify.register(retention, { config, ...(opts.retentionPlan ? { plan: opts.retentionPlan } : {}) })
  // Reconciliation jobs share the sync queues; schedules and queued runs are restored from Postgres.
  await fastify.register(reconciliation, { restoreIntervalMs: config.SYNC_RECONCILE_INTERVAL_MS })
}

export default fp(integrationWorker, { name: 'integration-worker', fastify: '5.x' })
