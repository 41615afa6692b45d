// compliance-service as one Fastify plugin: what server.ts listens with and what tests register.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { INTERNAL_PERMISSIONS } from '@hub/contracts'
import { internalPermissions, jwtOptions, serviceKit } from '@hub/service-kit'
import type { ComplianceServiceConfig } from './config.ts'
import { COMPLIANCE_SCHEMA } from './db/schema.ts'
import compliance from './plugins/app/compliance.ts'
import retention from './plugins/app/retention/index.ts'
import subjectRequests from './plugins/app/subject-requests/index.ts'
import subjectRequestRoutes from './routes/api/v1/compliance/subject-requests.ts'
import { localSecurityEventSink } from './plugins/app/local-security-events.ts'
import securityEventIntake from './routes/internal/security-events.ts'
import auditEventIntake from './routes/internal/audit-events.ts'
import retentionPlanRoutes from './routes/internal/retention.ts'
import auditLogRoutes from './routes/api/v1/compliance/audit-log/index.ts'
import auditDigestRoutes from './routes/api/v1/compliance/audit-log/digests.ts'
import signingKeyRoutes from './routes/api/v1/compliance/audit-log/signing-keys.ts'
import auditSegmentRoutes from './routes/api/v1/compliance/audit-log/segments.ts'
import venueSyncLogRoutes from './routes/api/v1/compliance/venues/sync-logs.ts'
import venueReportRoutes from './routes/api/v1/compliance/venues/report.ts'
import syncLogPullRoutes from './routes/api/v1/compliance/sync-logs.ts'
import securityEventRoutes from './routes/api/v1/compliance/security-events.ts'
import retentionPolicyRoutes from './routes/api/v1/compliance/retention/policy.ts'
import legalHoldRoutes from './routes/api/v1/compliance/retention/holds.ts'

export const SERVICE_NAME = 'compliance-service'
const REPORTERS = ['api-gateway', 'venue-service', 'integration-service', 'compliance-service']
/** Services with an audit outbox, whose relays deliver here. */
const AUDITED = ['venue-service', 'integration-service']

async function complianceService(fastify: FastifyInstance, opts: { config: ComplianceServiceConfig }): Promise<void> {
  const { config } = opts
  await fastify.register(serviceKit, {
    service: SERVICE_NAME,
    maxEventLoopDelayMs: config.MAX_EVENT_LOOP_DELAY_MS,
    metrics: { port: config.METRICS_PORT, host: config.METRICS_HOST ?? config.HOST },
    description: 'Audit log, security events and sync-log records for auditors.',
    databaseUrl: config.DATABASE_URL,
    databasePoolMax: config.DATABASE_POOL_MAX,
    databaseSchema: COMPLIANCE_SCHEMA,
    redisUrl: config.REDIS_URL,
    redisPrefix: config.REDIS_KEY_PREFIX,
    jwt: jwtOptions(config),
    securityEventSink: localSecurityEventSink(fastify),
    securityEventWindowMs: config.SECURITY_EVENT_WINDOW_MS,
    internal: {
      service: SERVICE_NAME,
      keysJson: config.INTERNAL_AUTH_KEYS,
      permissions: internalPermissions(config.INTERNAL_PERMISSIONS, {
        ...Object.fromEntries(REPORTERS.map((service) => [service, AUDITED.includes(service) ? [INTERNAL_PERMISSIONS.securityEventsWrite, INTERNAL_PERMISSIONS.auditEventsWrite] : [INTERNAL_PERMISSIONS.securityEventsWrite]])),
        // Its clean-up job reads the periods and holds before every run.
        'integration-service': [INTERNAL_PERMISSIONS.securityEventsWrite, INTERNAL_PERMISSIONS.auditEventsWrite, INTERNAL_PERMISSIONS.retentionRead],
      }),
    },
  })
  await fastify.register(compliance, {
    integrationUrl: config.INTEGRATION_SERVICE_URL,
    pollMs: config.SYNC_LOG_POLL_MS,
    runConsumer: config.SYNC_LOG_CONSUMER,
    signingKeysJson: config.AUDIT_SIGNING_KEYS,
    digestIntervalMs: config.AUDIT_DIGEST_INTERVAL_MS,
  })
  await fastify.register(retention, {
    intervalMs: config.RETENTION_INTERVAL_MS,
    batchSize: config.RETENTION_BATCH_SIZE,
    batchPauseMs: config.RETENTION_BATCH_PAUSE_MS,
    archiveDir: config.AUDIT_ARCHIVE_DIR,
    segmentMaxEntries: config.AUDIT_SEGMENT_MAX_ENTRIES,
  })
  await fastify.register(subjectRequests, {
    integrationUrl: config.INTEGRATION_SERVICE_URL,
    pollMs: config.SUBJECT_REQUEST_POLL_MS,
    leaseMs: config.SUBJECT_REQUEST_LEASE_MS,
    maxAttempts: config.SUBJECT_REQUEST_MAX_ATTEMPTS,
  })
  // Routes are registered explicitly: the URL → file map stays greppable.
  await fastify.register(securityEventIntake, { prefix: '/internal' })
  await fastify.register(auditEventIntake, { prefix: '/internal' })
  await fastify.register(retentionPlanRoutes, { prefix: '/internal' })
  const operatorTenantIds = config.OPERATOR_TENANT_IDS.split(',')
    .map((id) => id.trim().toLowerCase())
    .filter(Boolean)
  await fastify.register(venueSyncLogRoutes, { prefix: '/api/v1/compliance' })
  await fastify.register(venueReportRoutes, { prefix: '/api/v1/compliance' })
  await fastify.register(syncLogPullRoutes, { prefix: '/api/v1/compliance', operatorTenantIds })
  await fastify.register(securityEventRoutes, { prefix: '/api/v1/compliance', operatorTenantIds })
  await fastify.register(auditLogRoutes, { prefix: '/api/v1/compliance' })
  await fastify.register(auditDigestRoutes, { prefix: '/api/v1/compliance' })
  await fastify.register(signingKeyRoutes, { prefix: '/api/v1/compliance' })
  await fastify.register(auditSegmentRoutes, { prefix: '/api/v1/compliance', maxEntries: config.AUDIT_SEGMENT_MAX_ENTRIES })
  await fastify.register(retentionPolicyRoutes, { prefix: '/api/v1/compliance' })
  await fastify.register(legalHoldRoutes, { prefix: '/api/v1/compliance' })
  await fastify.register(subjectRequestRoutes, { prefix: '/api/v1/compliance' })
}

// Not encapsulated: the service's decorators belong to the instance that runs it (and tests read them).
export default fp(complianceService, { name: 'compliance-service', fastify: '5.x' })
