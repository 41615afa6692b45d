// Prometheus metrics of the sync engine, on the app's registry: jobs by queue and outcome, run
// duration, records by provider/entity/result (rate() gives records per second), provider errors
// by type, and queue depths read at scrape time.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type Bull from 'bull'
import { QUEUE_KEYS, type JobData, type QueueKey } from './sync-queues.ts'

export function createSyncMetrics(registry: Registry, queues?: Record<QueueKey, Bull.Queue<JobData>>) {
  const jobs = new Counter({
    name: 'integration_sync_jobs_total',
    help: 'Finished job attempts by queue, kind and outcome (succeeded, partial, failed, retried, deferred, cancelled, skipped)',
    labelNames: ['queue', 'kind', 'outcome'] as const,
    registers: [registry],
  })
  const duration = new Histogram({
    name: 'integration_sync_run_duration_seconds',
    help: 'Duration of sync job attempts by kind, provider and outcome',
    labelNames: ['kind', 'provider', 'outcome'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900],
    registers: [registry],
  })
  const records = new Counter({
    name: 'integration_sync_records_total',
    help: 'Records processed by provider, entity and result (created, updated, unchanged, deleted, failed, pushed)',
    labelNames: ['provider', 'entity', 'result'] as const,
    registers: [registry],
  })
  const providerErrors = new Counter({
    name: 'integration_provider_errors_total',
    help: 'Provider call failures by provider and type (auth, rate_limited, unavailable, invalid, not_found, circuit_open)',
    labelNames: ['provider', 'type'] as const,
    registers: [registry],
  })
  const webhookSources = new Counter({
    name: 'integration_webhook_events_total',
    help: "Processed webhook events by provider and where the record came from (event: the event's own object; provider: a call, for a thin event or an ordering doubt; stale: older than the stored record, nothing written)",
    labelNames: ['provider', 'source'] as const,
    registers: [registry],
  })
  if (queues) {
    new Gauge({
      name: 'integration_queue_jobs',
      help: 'Jobs per queue and state',
      labelNames: ['queue', 'state'] as const,
      registers: [registry],
      async collect() {
        for (const key of QUEUE_KEYS) {
          const queue = queues[key]
          const counts = await queue.getJobCounts().catch(() => null)
          if (!counts) continue
          for (const [state, value] of Object.entries(counts)) this.set({ queue: queue.name, state }, Number(value))
        }
      },
    })
  }

  return {
    job(queue: string, kind: string, outcome: string): void {
      jobs.inc({ queue, kind, outcome })
    },
    runDuration(kind: string, provider: string, outcome: string, seconds: number): void {
      duration.observe({ kind, provider, outcome }, seconds)
    },
    records(provider: string, entity: string, counts: Partial<Record<string, number>>): void {
      for (const [result, value] of Object.entries(counts)) if (value) records.inc({ provider, entity, result }, value)
    },
    webhookSource(provider: string, source: string): void {
      webhookSources.inc({ provider, source })
    },
    providerError(provider: string, type: string): void {
      providerErrors.inc({ provider, type })
    },
  }
}

export type SyncMetrics = ReturnType<typeof createSyncMetrics>
