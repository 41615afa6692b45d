// Retention in the worker process: the runner on the instance (`retention`), and
// `startRetentionProcessing`, which registers its processor on the `integration-low` queue and
// keeps one repeatable job there (RETENTION_INTERVAL_MS) — a named job, so the sync processors
// never see it, and a fixed id, so every worker replica scheduling it leaves one schedule.
import type Bull from 'bull'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { complianceClient, type RetentionPlan } from '@hub/contracts'
import type { IntegrationServiceConfig } from '../../../config.ts'
import { createConnectionRepository } from '../connections/connection-repository.ts'
import { createRecordRepository } from '../sync/record-repository.ts'
import { createSyncLogRepository } from '../sync-logs/sync-log-repository.ts'
import { createWebhookInboxRepository } from '../webhooks/webhook-inbox-repository.ts'
import { createOAuthStateRepository } from '../connections/oauth-state-repository.ts'
import { createRetentionRunner, type RetentionRunner, type RetentionRunResult } from './retention-runner.ts'

export const RETENTION_JOB = 'retention'
export const RETENTION_SCHEDULE_ID = 'retention-schedule'

declare module 'fastify' {
  interface FastifyInstance {
    retention: RetentionRunner
  }
}

export interface RetentionPluginOptions {
  config: Pick<IntegrationServiceConfig, 'COMPLIANCE_SERVICE_URL' | 'RETENTION_BATCH_SIZE' | 'RETENTION_BATCH_PAUSE_MS'>
  /** Tests swap compliance-service's answer in by construction. */
  plan?: (tenantIds: string[]) => Promise<RetentionPlan>
}

export default fp(
  async (fastify, opts: RetentionPluginOptions) => {
    const compliance = complianceClient(fastify.internalClient(opts.config.COMPLIANCE_SERVICE_URL))
    fastify.decorate(
      'retention',
      createRetentionRunner({
        db: fastify.db,
        connections: createConnectionRepository(),
        records: createRecordRepository(),
        inbox: createWebhookInboxRepository(),
        syncLogs: createSyncLogRepository(),
        oauthStates: createOAuthStateRepository(),
        audit: fastify.auditOutbox,
        plan: opts.plan ?? ((tenantIds) => compliance.retentionPlan(tenantIds, AbortSignal.timeout(30_000))),
        registry: fastify.metrics.registry,
        logger: fastify.log,
        batchSize: opts.config.RETENTION_BATCH_SIZE,
        batchPauseMs: opts.config.RETENTION_BATCH_PAUSE_MS,
      }),
    )
  },
  { name: 'integration-retention', dependencies: ['@hub/service-kit', '@hub/internal', 'connections'] },
)

interface RetentionJobData {
  kind: 'retention'
}

/**
 * Processes retention jobs on the low queue (one at a time per worker) and schedules the
 * repeatable one; `intervalMs` 0 removes the schedule.
 */
export async function startRetentionProcessing(fastify: FastifyInstance, intervalMs: number): Promise<void> {
  const queue = fastify.syncEngineInternals.syncQueues.queues.low as unknown as Bull.Queue<RetentionJobData>
  void queue.process(RETENTION_JOB, 1, async (job: Bull.Job<RetentionJobData>): Promise<RetentionRunResult> => fastify.retention.run({ onProgress: (percent) => job.progress(percent) }))
  for (const repeatable of await queue.getRepeatableJobs()) {
    if (repeatable.id === RETENTION_SCHEDULE_ID && Number(repeatable.every) !== intervalMs) await queue.removeRepeatableByKey(repeatable.key)
  }
  if (intervalMs > 0) await queue.add(RETENTION_JOB, { kind: 'retention' }, { jobId: RETENTION_SCHEDULE_ID, repeat: { every: intervalMs }, attempts: 3, backoff: { type: 'fixed', delay: 60_000 }, removeOnComplete: 50, removeOnFail: 50 })
}
