// integration-service as one Fastify plugin: what server.ts listens with and what tests register.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { INTERNAL_PERMISSIONS } from '@hub/contracts'
import { internalPermissions, jwtOptions, serviceKit } from '@hub/service-kit'
import syncLogs from './plugins/app/sync-logs/index.ts'
import hubEvents from './plugins/app/events/index.ts'
import syncLogFeed from './plugins/app/sync-logs/feed.ts'
import connections from './plugins/app/connections/index.ts'
import subjectData from './plugins/app/subject-data/index.ts'
import subjectDataRoutes from './routes/internal/subject-data.ts'
import internalSyncLogRoutes from './routes/internal/sync-logs.ts'
import internalIntegrationRoutes from './routes/internal/integrations.ts'
import connectionRoutes from './routes/api/v1/integrations/connections.ts'
import oauthRoutes from './routes/api/v1/integrations/oauth.ts'
import webhooks from './plugins/app/webhooks/index.ts'
import webhookRoutes from './routes/api/v1/integrations/webhooks.ts'
import syncEngine from './plugins/app/sync/index.ts'
import syncApi from './plugins/app/sync/sync-api.ts'
import syncSchedules from './plugins/app/sync/schedules-from-settings.ts'
import syncRequestRoutes from './routes/api/v1/integrations/sync/index.ts'
import syncJobRoutes from './routes/api/v1/integrations/sync/jobs.ts'
import syncLogListRoutes from './routes/api/v1/integrations/sync-logs.ts'
import recordRoutes from './routes/api/v1/integrations/records.ts'
import fieldMappingRoutes from './routes/api/v1/integrations/field-mappings.ts'
import adminRoutes from './routes/api/v1/integrations/admin.ts'
import syncTriggerRoutes from './routes/internal/sync/trigger.ts'
import integrationSettings from './plugins/app/settings/index.ts'
import settingsRoutes from './routes/api/v1/integrations/settings.ts'
import outboundWebhooks from './plugins/app/outbound-webhooks/index.ts'
import webhookEndpointRoutes from './routes/api/v1/integrations/webhook-endpoints.ts'
import type { Resolver } from './plugins/app/outbound-webhooks/url-guard.ts'
import eventCatalogueRoutes from './routes/api/v1/integrations/events/catalogue.ts'
import reconciliation from './plugins/app/reconciliation/index.ts'
import reconciliationRunRoutes from './routes/api/v1/integrations/reconciliation/runs.ts'
import reconciliationScheduleRoutes from './routes/api/v1/integrations/reconciliation/schedules.ts'
import internalReconciliationRoutes from './routes/internal/reconciliation.ts'
import type { IntegrationServiceConfig } from './config.ts'
import { INTEGRATION_SCHEMA, INTEGRATION_TABLES } from './db/schema.ts'
import type { ProviderName } from './providers/canonical.ts'
import type { ProviderAdapter } from './providers/provider-adapter.ts'

export const SERVICE_NAME = 'integration-service'

export interface IntegrationServiceOptions {
  config: IntegrationServiceConfig
  /** Tests swap a provider adapter in by construction. */
  adapters?: Partial<Record<ProviderName, ProviderAdapter>>
  /** Tests resolve webhook endpoint host names with their own answers (DNS rebinding, metadata names). */
  resolver?: Resolver
}

async function integrationService(fastify: FastifyInstance, opts: IntegrationServiceOptions): Promise<void> {
  const { config } = opts
  await fastify.register(serviceKit, {
    service: SERVICE_NAME,
    maxEventLoopDelayMs: config.MAX_EVENT_LOOP_DELAY_MS,
    metrics: { port: config.METRICS_PORT, host: config.METRICS_HOST ?? config.HOST },
    description: 'Provider connections, sync engine, webhooks and sync logs.',
    databaseUrl: config.DATABASE_URL,
    databasePoolMax: config.DATABASE_POOL_MAX,
    databaseSchema: INTEGRATION_SCHEMA,
    redisUrl: config.REDIS_URL,
    redisPrefix: config.REDIS_KEY_PREFIX,
    jwt: jwtOptions(config),
    auditRelay: { table: INTEGRATION_TABLES.auditOutbox, intervalMs: config.AUDIT_RELAY_INTERVAL_MS },
    securityEventBuffer: { table: INTEGRATION_TABLES.securityEventOutbox },
    securityEventWindowMs: config.SECURITY_EVENT_WINDOW_MS,
    securityRelayIntervalMs: config.SECURITY_RELAY_INTERVAL_MS,
    internal: {
      service: SERVICE_NAME,
      keysJson: config.INTERNAL_AUTH_KEYS,
      permissions: internalPermissions(config.INTERNAL_PERMISSIONS, {
        'compliance-service': [INTERNAL_PERMISSIONS.syncLogsRead, INTERNAL_PERMISSIONS.integrationsRead, INTERNAL_PERMISSIONS.subjectDataRead, INTERNAL_PERMISSIONS.subjectDataErase],
        'venue-service': [INTERNAL_PERMISSIONS.syncTrigger, INTERNAL_PERMISSIONS.connectionsDisconnect],
      }),
      complianceUrl: config.COMPLIANCE_SERVICE_URL,
    },
  })
  // App plugins: the layers, wired once, shared by routes (and by the worker process).
  await fastify.register(syncLogs)
  await fastify.register(hubEvents, { intervalMs: config.EVENT_RELAY_INTERVAL_MS, maxLen: config.EVENT_STREAM_MAXLEN, retentionHours: config.EVENT_OUTBOX_RETENTION_HOURS })
  await fastify.register(syncLogFeed)
  await fastify.register(connections, { config, ...(opts.adapters ? { adapters: opts.adapters } : {}) })
  await fastify.register(subjectData, { config })
  await fastify.register(syncEngine, { config })
  await fastify.register(webhooks, { publicUrl: config.PUBLIC_URL, quickbooksVerifier: config.QUICKBOOKS_WEBHOOK_VERIFIER })
  await fastify.register(syncApi)
  await fastify.register(integrationSettings)
  await fastify.register(syncSchedules)
  await fastify.register(outboundWebhooks, { config, ...(opts.resolver ? { resolver: opts.resolver } : {}) })
  await fastify.register(reconciliation, { gauges: true })
  // Routes, registered explicitly so the URL → file map stays greppable.
  await fastify.register(internalSyncLogRoutes, { prefix: '/internal' })
  await fastify.register(internalIntegrationRoutes, { prefix: '/internal' })
  await fastify.register(syncTriggerRoutes, { prefix: '/internal' })
  await fastify.register(subjectDataRoutes, { prefix: '/internal' })
  await fastify.register(internalReconciliationRoutes, { prefix: '/internal' })
  await fastify.register(connectionRoutes, { prefix: '/api/v1/integrations' })
  await fastify.register(oauthRoutes, { prefix: '/api/v1/integrations' })
  await fastify.register(webhookRoutes, { prefix: '/api/v1/integrations' })
  await fastify.register(settingsRoutes, { prefix: '/api/v1/integrations' })
  await fastify.register(syncRequestRoutes, { prefix: '/api/v1/integrations' })
  await fastify.register(syncJobRoutes, { prefix: '/api/v1/integrations' })
  await fastify.register(syncLogListRoutes, { prefix: '/api/v1/integrations' })
  await fastify.register(recordRoutes, { prefix: '/api/v1/integrations' })
  await fastify.register(fieldMappingRoutes, { prefix: '/api/v1/integrations' })
  await fastify.register(webhookEndpointRoutes, { prefix: '/api/v1/integrations' })
  await fastify.register(eventCatalogueRoutes, { prefix: '/api/v1/integrations' })
  await fastify.register(reconciliationRunRoutes, { prefix: '/api/v1/integrations' })
  await fastify.register(reconciliationScheduleRoutes, { prefix: '/api/v1/integrations' })
  await fastify.register(adminRoutes, {
    prefix: '/api/v1/integrations',
    operatorTenantIds: config.OPERATOR_TENANT_IDS.split(',')
      .map((id) => id.trim().toLowerCase())
      .filter(Boolean),
  })
}

// Not encapsulated: the service's decorators belong to the instance that runs it (and tests read them).
export default fp(integrationService, { name: 'integration-service', fastify: '5.x' })
