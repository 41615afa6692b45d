// Wires compliance-service's layers: stores, the sync-log consumer, the security-event sink and
// the audit log.
import fp from 'fastify-plugin'
import { integrationClient } from '@hub/contracts'
import { createAuditLogStore, type AuditLogStore } from './audit-log-store.ts'
import { createSecurityEventRepository, type SecurityEventRepository } from './security-event-repository.ts'
import { createSyncLogStore, type SyncLogStore } from './sync-log-store.ts'
import { createSyncLogConsumer, type SyncLogConsumer } from './sync-log-consumer.ts'

declare module 'fastify' {
  interface FastifyInstance {
    securityEventStore: SecurityEventRepository
    auditLogStore: AuditLogStore
    syncLogStore: SyncLogStore
    syncLogConsumer: SyncLogConsumer
  }
}

export default fp(
  async (fastify, opts: { integrationUrl: string; pollMs: number; runConsumer: boolean }) => {
    fastify.decorate('securityEventStore', createSecurityEventRepository())
    fastify.decorate('auditLogStore', createAuditLogStore())
    const store = createSyncLogStore()
    fastify.decorate('syncLogStore', store)
    const consumer = createSyncLogConsumer({
      db: fastify.db,
      store,
      integration: integrationClient(fastify.internalClient(opts.integrationUrl)),
      registry: fastify.metrics.registry,
      logger: fastify.log,
      pollMs: opts.pollMs,
    })
    fastify.decorate('syncLogConsumer', consumer)
    if (opts.runConsumer) fastify.addHook('onReady', async () => consumer.start())
    fastify.addHook('onClose', async () => consumer.stop())
  },
  { name: 'compliance', dependencies: ['@hub/service-kit'] },
)
