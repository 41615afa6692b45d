// Reconciliation throughput through the real worker path, beside the sync of the same data:
// customers and payments seeded in the Stripe simulator, synced into Postgres by an
// integration-worker process, then reconciled (full runs, then quick checks) by a fresh worker
// process, whose peak resident memory is the reconciliation's own. Every run must come out clean.
//
//   npx tsx bench/reconcile/reconcile.ts [records per entity, default 100000]   (npm run bench -- reconcile)
//   a smoke run: npx tsx bench/reconcile/reconcile.ts 2000
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { createFastify } from '@hub/service-kit'
import { createTestDatabase, deleteRedisPrefix } from '@hub/service-kit/testing'
import { createStripeSimulator } from '../../packages/provider-simulators/src/stripe/index.ts'
import integrationService from '../../services/integration-service/src/app.ts'
import { loadConfig } from '../../services/integration-service/src/config.ts'
import { INTEGRATION_SCHEMA } from '../../services/integration-service/src/db/schema.ts'
import type { EntityName } from '../../services/integration-service/src/providers/canonical.ts'
import { fmt, freePort, integrationEnv, spawnWorker, stopAll, testIdentityEnv, waitFor } from '../support.ts'

const LIFTED_BUDGET = '100000/1s'
const ENTITIES: EntityName[] = ['customer', 'payment']
/** What reconciling is compared with: a full run over unchanged data must not be slower than the sync that wrote it. */
const TARGET_OF_SYNC = 1
const TARGET_PEAK_RSS_MB = 300

interface RunFigures {
  records: number
  wallSeconds: number
  recordsPerSecond: number
}

function hwmKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0)
}

export async function run(options: { records?: number; log?: (line: string) => void } = {}) {
  const records = options.records ?? 100_000
  const log = options.log ?? (() => undefined)
  const db = await createTestDatabase([INTEGRATION_SCHEMA])
  const prefix = `hubbench:${randomUUID().slice(0, 8)}:`
  const sim = createStripeSimulator({ recordsPerEntity: 0, seed: 'bench-reconcile' })
  await sim.listen({ port: 0, host: '127.0.0.1' })
  const stripeBase = `http://127.0.0.1:${(sim.server.address() as { port: number }).port}`
  const env = integrationEnv(testIdentityEnv(prefix), db.urlFor(INTEGRATION_SCHEMA.appRole), { STRIPE_API_BASE: stripeBase, SYNC_RATE_LIMIT_STRIPE: LIFTED_BUDGET })
  // The API side (enqueue, connection) in this process; the processors in worker processes.
  // Errors only: nothing takes this app's audit outbox (no compliance-service here), and its relay would say so every second.
  const app = createFastify({ service: 'integration-service', logLevel: 'error' })
  await app.register(integrationService, { config: loadConfig(env) })
  await app.ready()

  const startWorker = async () => {
    const port = await freePort()
    const worker = spawnWorker({ ...env, INTEGRATION_WORKER_PORT: String(port) })
    let peakKb = 0
    const sample = () => {
      try {
        if (worker.pid) peakKb = Math.max(peakKb, hwmKb(worker.pid))
      } catch {
        // the process is gone
      }
    }
    const sampler = setInterval(sample, 100)
    await waitFor(`http://127.0.0.1:${port}/ready`)
    return {
      peakMb: () => peakKb / 1024,
      stop: async () => {
        sample()
        clearInterval(sampler)
        await stopAll([worker])
      },
    }
  }

  const seed = async () => {
    const apiKey = `sk_test_${randomUUID().replaceAll('-', '')}`
    const accountId = ((await (await fetch(`${stripeBase}/_sim/accounts/lookup?credential=${apiKey}`)).json()) as { accountId: string }).accountId
    for (const entity of ENTITIES) {
      await fetch(`${stripeBase}/_sim/accounts/${accountId}/seed`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ entity, count: records }) })
    }
    const tenantId = randomUUID()
    const venueId = randomUUID()
    const connectionId = randomUUID()
    await app.db.withTenant(tenantId, async (trx) => {
      await app.connections.insert(trx, { id: connectionId, tenantId, venueId, provider: 'stripe', authType: 'api_key', createdBy: 'bench', sealed: app.vault.seal(tenantId, connectionId, { apiKey }) })
      await app.connections.update(trx, connectionId, { status: 'active', accountId })
    })
    return { tenantId, venueId, connectionId }
  }

  const sync = async (c: Awaited<ReturnType<typeof seed>>, entity: EntityName): Promise<RunFigures> => {
    const { jobs } = await app.syncEngine.enqueueSync({ tenantId: c.tenantId, venueId: c.venueId, connectionId: c.connectionId, entities: [entity], mode: 'full', trigger: 'batch', queue: 'high' })
    const syncLogId = jobs[0]?.syncLogId as string
    let lastReport = performance.now()
    for (;;) {
      const [row] = await db.adminQuery<{ status: string; records_fetched: number; created_at: Date; finished_at: Date | null }>('select status, records_fetched, created_at, finished_at from integration.sync_logs where id = $1', [
        syncLogId,
      ])
      if (row && ['succeeded', 'partial', 'failed', 'cancelled'].includes(row.status)) {
        if (row.status !== 'succeeded') throw new Error(`the ${entity} sync ended ${row.status}`)
        const wallSeconds = ((row.finished_at as Date).getTime() - row.created_at.getTime()) / 1000
        return { records: row.records_fetched, wallSeconds, recordsPerSecond: row.records_fetched / wallSeconds }
      }
      if (row && performance.now() - lastReport > 2_000) {
        lastReport = performance.now()
        log(`  sync ${entity}: ${fmt(row.records_fetched)} of ${fmt(records)}`)
      }
      await sleep(50)
    }
  }

  const reconcile = async (c: Awaited<ReturnType<typeof seed>>, entity: EntityName, mode: 'full' | 'quick'): Promise<RunFigures> => {
    const { runs, scheduler } = app.reconciliationInternals
    const row = await app.db.withTenant(c.tenantId, (trx) => runs.insert(trx, { tenantId: c.tenantId, venueId: c.venueId, connectionId: c.connectionId, provider: 'stripe', entity, mode, trigger: 'manual', requestedBy: 'bench' }))
    await scheduler.enqueueRuns({ tenantId: c.tenantId, venueId: c.venueId, connectionId: c.connectionId }, [row.id], 'normal')
    let lastReport = performance.now()
    for (;;) {
      const [state] = await db.adminQuery<{ status: string; provider_count: number; duration_ms: number | null; missing_in_hub: number; missing_at_provider: number; changed: number; amount_mismatch: number; error_code: string | null }>(
        'select status, provider_count, duration_ms, missing_in_hub, missing_at_provider, changed, amount_mismatch, error_code from integration.reconciliation_runs where id = $1',
        [row.id],
      )
      if (state && ['clean', 'drift', 'failed'].includes(state.status)) {
        if (state.status !== 'clean')
          throw new Error(`the ${mode} reconciliation of ${entity} ended ${state.status} (${String(state.error_code)}; ${state.missing_in_hub}/${state.missing_at_provider}/${state.changed}/${state.amount_mismatch})`)
        const wallSeconds = (state.duration_ms ?? 0) / 1000
        return { records: state.provider_count, wallSeconds, recordsPerSecond: state.provider_count / wallSeconds }
      }
      if (state && performance.now() - lastReport > 2_000) {
        lastReport = performance.now()
        log(`  ${mode} reconciliation ${entity}: ${fmt(state.provider_count)} of ${fmt(records)} compared`)
      }
      await sleep(50)
    }
  }

  try {
    log(`seeding ${fmt(records)} customers and ${fmt(records)} payments in the Stripe simulator`)
    const c = await seed()
    const syncWorker = await startWorker()
    const synced: Partial<Record<EntityName, RunFigures>> = {}
    let syncPeakMb: number
    try {
      for (const entity of ENTITIES) synced[entity] = await sync(c, entity)
    } finally {
      await syncWorker.stop()
      syncPeakMb = syncWorker.peakMb()
    }
    const reconWorker = await startWorker()
    const full: Partial<Record<EntityName, RunFigures>> = {}
    const quick: Partial<Record<EntityName, RunFigures>> = {}
    let reconPeakMb: number
    try {
      for (const entity of ENTITIES) full[entity] = await reconcile(c, entity, 'full')
      for (const entity of ENTITIES) quick[entity] = await reconcile(c, entity, 'quick')
    } finally {
      await reconWorker.stop()
      reconPeakMb = reconWorker.peakMb()
    }
    return { records, synced, full, quick, syncPeakMb, reconPeakMb }
  } finally {
    await app.close()
    await sim.close()
    await db.drop()
    await deleteRedisPrefix(prefix)
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const records = process.argv[2] ? Number(process.argv[2]) : undefined
  const result = await run({ ...(records ? { records } : {}), log: (line) => console.log(line) })
  const ok = (pass: boolean) => (pass ? 'ok' : 'MISSED')
  const rate = (figures: RunFigures | undefined) => (figures ? `${fmt(figures.recordsPerSecond).padStart(7)} records/s (${fmt(figures.records)} in ${figures.wallSeconds.toFixed(2)} s)` : 'n/a')
  const lines = ENTITIES.map((entity) => {
    const synced = result.synced[entity] as RunFigures
    const full = result.full[entity] as RunFigures
    const ratio = full.recordsPerSecond / synced.recordsPerSecond
    return `  ${entity.padEnd(9)} sync ${rate(synced)}
            full reconciliation ${rate(full)} = ${ratio.toFixed(2)}× the sync   [target ≥ ${TARGET_OF_SYNC}×: ${ok(ratio >= TARGET_OF_SYNC)}]
            quick check         ${rate(result.quick[entity])}`
  })
  console.log(`
reconcile bench: ${fmt(result.records)} Stripe customers and ${fmt(result.records)} payments, synced then reconciled by integration-worker processes (budget lifted, ${LIFTED_BUDGET}); every run clean
${lines.join('\n')}
  peak RSS: sync worker ${fmt(result.syncPeakMb)} MB, reconciliation worker ${fmt(result.reconPeakMb)} MB   [target < ${TARGET_PEAK_RSS_MB} MB: ${ok(result.reconPeakMb < TARGET_PEAK_RSS_MB)}]`)
}
