// Retention on the instance: policies and holds (`retentionService`), and the clean-up run on
// compliance-service's own schedule (`retentionJob`).
import fp from 'fastify-plugin'
import { createAuditArchive } from './audit-archive.ts'
import { createComplianceRetentionJob, type ComplianceRetentionJob } from './retention-job.ts'
import { createRetentionService, type RetentionService } from './retention-service.ts'
import { createRetentionStore } from './retention-store.ts'

declare module 'fastify' {
  interface FastifyInstance {
    retentionService: RetentionService
    retentionJob: ComplianceRetentionJob
  }
}

export interface RetentionOptions {
  intervalMs: number
  batchSize: number
  batchPauseMs: number
  archiveDir: string | undefined
  segmentMaxEntries: number
}

export default fp(
  async (fastify, opts: RetentionOptions) => {
    const service = createRetentionService({ db: fastify.db, store: createRetentionStore(), auditLog: fastify.auditLogStore })
    fastify.decorate('retentionService', service)
    if (opts.archiveDir === undefined) fastify.log.warn('AUDIT_ARCHIVE_DIR is not set: audit entries past their period are kept (nothing is removed without an archive)')
    const job = createComplianceRetentionJob({
      db: fastify.db,
      retention: service,
      auditLog: fastify.auditLogStore,
      segments: fastify.auditSegmentStore,
      syncLogs: fastify.syncLogStore,
      securityEvents: fastify.securityEventStore,
      archive: opts.archiveDir === undefined ? null : createAuditArchive(opts.archiveDir),
      storeKeys: () => fastify.auditDigestJob.storeKeys(),
      registry: fastify.metrics.registry,
      logger: fastify.log,
      intervalMs: opts.intervalMs,
      batchSize: opts.batchSize,
      batchPauseMs: opts.batchPauseMs,
      segmentMaxEntries: opts.segmentMaxEntries,
    })
    fastify.decorate('retentionJob', job)
    if (opts.intervalMs > 0) fastify.addHook('onReady', async () => job.start())
    fastify.addHook('onClose', async () => job.stop())
  },
  { name: 'compliance-retention', dependencies: ['@hub/service-kit', 'compliance'] },
)
