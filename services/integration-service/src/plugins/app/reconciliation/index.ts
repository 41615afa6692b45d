// Reconciliation on the instance. Both processes register it: the API process serves the
// reconciliation API (`fastify.reconciliation`) and the drift gauges; the worker process runs
// reconciliation jobs (registered as the `reconcile` processor of the sync engine's queues) and
// restores schedules, and the jobs of queued or running runs that Bull lost or failed, from Postgres
// at start and periodically.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createHubRecordsReader } from './hub-records-reader.ts'
import { createReconciliationEngine, type ReconciliationEngine } from './reconciliation-engine.ts'
import { createReconciliationItemRepository } from './reconciliation-item-repository.ts'
import { createReconciliationMetrics } from './reconciliation-metrics.ts'
import { createReconciliationRunRepository, type ReconciliationRunRepository } from './reconciliation-run-repository.ts'
import { createReconciliationScheduleRepository } from './reconciliation-schedule-repository.ts'
import { createReconciliationScheduler, type ReconciliationScheduler } from './reconciliation-scheduler.ts'
import { createReconciliationService, type ReconciliationService } from './reconciliation-service.ts'

export interface ReconciliationOptions {
  /** The API process: expose the per-connection drift and staleness gauges (read from Postgres). */
  gauges?: boolean
  /** The worker process: put schedules and the jobs of unfinished runs back from Postgres every `restoreIntervalMs`. */
  restoreIntervalMs?: number
  /** Records per provider page (adapter default when unset). */
  pageSize?: number
}

export interface ReconciliationInternals {
  engine: ReconciliationEngine
  scheduler: ReconciliationScheduler
  runs: ReconciliationRunRepository
}

declare module 'fastify' {
  interface FastifyInstance {
    reconciliation: ReconciliationService
    reconciliationInternals: ReconciliationInternals
  }
}

async function reconciliationPlugin(fastify: FastifyInstance, opts: ReconciliationOptions): Promise<void> {
  const sync = fastify.syncEngineInternals
  const runs = createReconciliationRunRepository()
  const items = createReconciliationItemRepository()
  const schedules = createReconciliationScheduleRepository()
  const logger = fastify.log.child({ component: 'reconciliation' })
  const metrics = createReconciliationMetrics(fastify.metrics.registry, opts.gauges ? () => fastify.db.withSystemScope((trx) => runs.connectionHealth(trx)) : undefined)
  const engine = createReconciliationEngine({
    db: fastify.db,
    connectionContext: fastify.connectionContext,
    gate: sync.gate,
    control: sync.control,
    state: sync.state,
    records: sync.records,
    runs,
    items,
    hub: createHubRecordsReader(),
    audit: fastify.auditOutbox,
    metrics,
    logger,
    ...(opts.pageSize ? { pageSize: opts.pageSize } : {}),
  })
  const scheduler = createReconciliationScheduler({ db: fastify.db, queues: sync.syncQueues, runs, schedules, connections: fastify.connections, providers: fastify.providers, control: sync.control, logger })
  sync.processors.set('reconcile', scheduler.processor(engine))

  fastify.decorate(
    'reconciliation',
    createReconciliationService({ db: fastify.db, connections: fastify.connections, providers: fastify.providers, runs, items, schedules, scheduler, engine, venues: fastify.venues, audit: fastify.auditOutbox }),
  )
  fastify.decorate('reconciliationInternals', { engine, scheduler, runs })

  // A disconnected connection stops being reconciled.
  fastify.connectionDisconnectHooks.push(async (_tenantId, connectionId) => {
    await scheduler.unschedule(connectionId)
  })

  if (opts.restoreIntervalMs) {
    let timer: NodeJS.Timeout | null = null
    let restoring: Promise<unknown> | null = null
    const restore = (): void => {
      if (restoring) return
      restoring = scheduler
        .restore()
        .catch((err: unknown) => logger.warn({ err: { message: (err as Error).message } }, 'reconciliation restore failed'))
        .finally(() => {
          restoring = null
        })
    }
    fastify.addHook('onReady', async () => {
      restore()
      timer = setInterval(restore, opts.restoreIntervalMs)
      timer.unref()
    })
    fastify.addHook('preClose', async () => {
      if (timer) clearInterval(timer)
      await restoring
    })
  }
}

export default fp(reconciliationPlugin, { name: 'reconciliation', dependencies: ['@hub/service-kit', 'connections', 'sync-engine'] })
