// Wires compliance-service's layers: stores, the sync-log consumer, the security-event sink and
// the audit log.
import fp from 'fastify-plugin'
import { integrationClient, type IntegrationClient } from '@hub/contracts'
import { SigningKeyRing, generateSigningKeyRingJson } from '@hub/crypto'
import { createAuditDigestStore, type AuditDigestStore } from './audit-digest-store.ts'
import { createAuditDigestJob, type AuditDigestJob } from './audit-digest-job.ts'
import { createAuditSegmentStore, type AuditSegmentStore } from './audit-segment-store.ts'
import { createAuditLogStore, type AuditLogStore } from './audit-log-store.ts'
import { createRetentionStore } from './retention/retention-store.ts'
import { createSecurityEventRepository, type SecurityEventRepository } from './security-event-repository.ts'
import { createSyncLogStore, type SyncLogStore } from './sync-log-store.ts'
import { createSyncLogConsumer, type SyncLogConsumer } from './sync-log-consumer.ts'
import { createSyncEventListener } from './sync-event-listener.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** integration-service's internal API (the venue report asks it for reconciliation status). */
    integrationApi: IntegrationClient
    securityEventStore: SecurityEventRepository
    auditLogStore: AuditLogStore
    syncLogStore: SyncLogStore
    syncLogConsumer: SyncLogConsumer
    auditDigestStore: AuditDigestStore
    auditDigestJob: AuditDigestJob
    auditSegmentStore: AuditSegmentStore
  }
}

export default fp(
  async (fastify, opts: { integrationUrl: string; pollMs: number; runConsumer: boolean; signingKeysJson: string | undefined; digestIntervalMs: number }) => {
    fastify.decorate('securityEventStore', createSecurityEventRepository())
    fastify.decorate('auditLogStore', createAuditLogStore())
    const store = createSyncLogStore()
    fastify.decorate('syncLogStore', store)
    const integration = integrationClient(fastify.internalClient(opts.integrationUrl))
    fastify.decorate('integrationApi', integration)
    const consumer = createSyncLogConsumer({
      db: fastify.db,
      store,
      integration,
      registry: fastify.metrics.registry,
      logger: fastify.log,
      pollMs: opts.pollMs,
    })
    fastify.decorate('syncLogConsumer', consumer)
    const listener = createSyncEventListener({ redis: fastify.redis, prefix: fastify.redisPrefix, registry: fastify.metrics.registry, logger: fastify.log, db: fastify.db, store, pullFresh: consumer.pullFresh })
    if (opts.runConsumer) {
      fastify.addHook('onReady', async () => {
        consumer.start()
        listener.start()
      })
    }
    fastify.addHook('onClose', async () => {
      await listener.stop()
      await consumer.stop()
    })

    if (opts.signingKeysJson === undefined) fastify.log.warn('AUDIT_SIGNING_KEYS is not set: audit digests are signed with a key made at start-up, which no restart can sign with again')
    const ring = SigningKeyRing.fromEnv(opts.signingKeysJson ?? generateSigningKeyRingJson([1]))
    const digestStore = createAuditDigestStore(ring)
    fastify.decorate('auditDigestStore', digestStore)
    // Seals and removals follow the tenant's retention policy and legal holds, as the clean-up run does.
    fastify.decorate('auditSegmentStore', createAuditSegmentStore(digestStore, createRetentionStore()))
    const digestJob = createAuditDigestJob({ db: fastify.db, store: digestStore, registry: fastify.metrics.registry, logger: fastify.log, intervalMs: opts.digestIntervalMs })
    fastify.decorate('auditDigestJob', digestJob)
    if (opts.digestIntervalMs > 0) fastify.addHook('onReady', async () => digestJob.start())
    fastify.addHook('onClose', async () => digestJob.stop())
  },
  { name: 'compliance', dependencies: ['@hub/service-kit'] },
)
