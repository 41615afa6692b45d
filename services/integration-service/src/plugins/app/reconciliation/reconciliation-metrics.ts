// Prometheus metrics of reconciliation: finished runs by outcome, mismatches found by kind, repairs
// by result, and, read from Postgres at scrape time (so a restart loses nothing), per connection
// whether its last full run found drift and how long ago its last clean full run finished.
import { Counter, Gauge, type Registry } from 'prom-client'
import type { RunRow } from './reconciliation-run-repository.ts'

export interface ConnectionReconciliationHealth {
  connection_id: string
  provider: string
  last_status: string
  last_finished_at: Date
  last_clean_at: Date | null
}

export function createReconciliationMetrics(registry: Registry, health?: () => Promise<ConnectionReconciliationHealth[]>) {
  const runs = new Counter({
    name: 'integration_reconciliation_runs_total',
    help: 'Finished reconciliation runs by provider, entity, mode (full, quick) and outcome (clean, drift, failed)',
    labelNames: ['provider', 'entity', 'mode', 'outcome'] as const,
    registers: [registry],
  })
  const mismatches = new Counter({
    name: 'integration_reconciliation_mismatches_total',
    help: 'Mismatches found by full reconciliation runs, by provider, entity and kind (missing_in_hub, missing_at_provider, changed, amount_mismatch)',
    labelNames: ['provider', 'entity', 'kind'] as const,
    registers: [registry],
  })
  const repairs = new Counter({
    name: 'integration_reconciliation_repairs_total',
    help: 'Reconciliation items repaired, by provider, entity and result (repaired, still_different, failed)',
    labelNames: ['provider', 'entity', 'result'] as const,
    registers: [registry],
  })
  if (health) {
    let rows: Promise<ConnectionReconciliationHealth[]> | null = null
    // One query per scrape for both gauges.
    const read = (): Promise<ConnectionReconciliationHealth[]> => {
      rows ??= health()
        .catch(() => [])
        .finally(() => setTimeout(() => (rows = null), 1_000).unref())
      return rows
    }
    new Gauge({
      name: 'integration_reconciliation_seconds_since_clean',
      help: "Seconds since each connection's last clean full reconciliation (since its first full run when none was clean yet)",
      labelNames: ['connection_id', 'provider'] as const,
      registers: [registry],
      async collect() {
        this.reset()
        const now = Date.now()
        for (const row of await read()) {
          const since = row.last_clean_at ?? row.last_finished_at
          this.set({ connection_id: row.connection_id, provider: row.provider }, Math.max(0, Math.round((now - since.getTime()) / 1000)))
        }
      },
    })
    new Gauge({
      name: 'integration_reconciliation_drift',
      help: "1 when a connection's latest full reconciliation found drift that no later clean run cleared, else 0",
      labelNames: ['connection_id', 'provider'] as const,
      registers: [registry],
      async collect() {
        this.reset()
        for (const row of await read()) this.set({ connection_id: row.connection_id, provider: row.provider }, row.last_status === 'drift' ? 1 : 0)
      },
    })
  }

  return {
    runFinished(run: RunRow): void {
      runs.inc({ provider: run.provider, entity: run.entity, mode: run.mode, outcome: run.status })
      if (run.mode !== 'full') return
      const found = { missing_in_hub: run.missing_in_hub, missing_at_provider: run.missing_at_provider, changed: run.changed, amount_mismatch: run.amount_mismatch }
      for (const [kind, value] of Object.entries(found)) if (value > 0) mismatches.inc({ provider: run.provider, entity: run.entity, kind }, value)
    },
    repaired(run: RunRow, result: { repaired: number; stillDifferent: number; failed: number }): void {
      if (result.repaired) repairs.inc({ provider: run.provider, entity: run.entity, result: 'repaired' }, result.repaired)
      if (result.stillDifferent) repairs.inc({ provider: run.provider, entity: run.entity, result: 'still_different' }, result.stillDifferent)
      if (result.failed) repairs.inc({ provider: run.provider, entity: run.entity, result: 'failed' }, result.failed)
    },
  }
}

export type ReconciliationMetrics = ReturnType<typeof createReconciliationMetrics>
