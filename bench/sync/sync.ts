// Sync throughput through the real worker path, with the limits it is compared against measured
// in the same run: customers in the Stripe simulator synced into Postgres by the
// integration-worker running as its own process (as in production).
//  - budget lifted: a full run, an incremental run with nothing changed, and a full run over the
//    unchanged data (every record compared by hash, none rewritten);
//  - at the Stripe budget (100 requests/s, 100 customers per page): a full run of a second
//    account, against the budget's ceiling (requests/s × page size);
//  - the limits: the simulator listed through the adapter by a process that writes nothing, and
//    one Postgres client writing the same records through the engine's upsert;
//  - the worker's peak resident memory (VmHWM sampled from /proc/<pid>/status).
//
//   npx tsx bench/sync/sync.ts [records, default 100000] [stripe budget, default 100/1s]
//   BENCH_CPU_PROF=<dir> also writes a CPU profile of each worker there (node --cpu-prof).
//
// Stripe's test-mode limit of 25 requests/s would cap any client at about 2,500 records/s, so the
// bench uses the live-mode limit (100/s), as a production deployment would.
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { createFastify } from '@hub/service-kit'
import { createTestDatabase, deleteRedisPrefix } from '@hub/service-kit/testing'
import { createStripeSimulator } from '../../packages/provider-simulators/src/stripe/index.ts'
import integrationService from '../../services/integration-service/src/app.ts'
import { loadConfig } from '../../services/integration-service/src/config.ts'
import { INTEGRATION_SCHEMA } from '../../services/integration-service/src/db/schema.ts'
import { createRecordRepository, type RecordInput } from '../../services/integration-service/src/plugins/app/sync/record-repository.ts'
import { parseRateBudget } from '../../services/integration-service/src/plugins/app/sync/rate-limiter.ts'
import { prepareRecords } from '../../services/integration-service/src/plugins/app/sync/sync-runner.ts'
import { createStripeAdapter } from '../../services/integration-service/src/providers/stripe/index.ts'
import { ROOT, fmt, freePort, integrationEnv, spawnWorker, stopAll, testIdentityEnv, waitFor } from '../support.ts'

/** Customers per Stripe list page (the adapter's default). */
const PAGE_SIZE = 100
const LIFTED_BUDGET = '100000/1s'

export interface SyncRunFigures {
  records: number
  /** From enqueue to the sync log's finish. */
  wallSeconds: number
  recordsPerSecond: number
}

export interface SyncBenchResult {
  records: number
  worker: 'child process'
  lifted: {
    full: SyncRunFigures
    incremental: SyncRunFigures & { speedup: number }
    /** A second full run over unchanged data: every record compared by hash, none rewritten. */
    fullUnchanged: SyncRunFigures
  }
  budgeted: { budget: string; ceiling: number; full: SyncRunFigures; ofCeiling: number }
  limits: { listRecordsPerSecond: number; upsertRowsPerSecond: number; upsertRows: number }
  peakRssMb: number
  targets: { liftedFull: boolean; liftedUnchanged: boolean; budgetShare: boolean; peakRss: boolean; incrementalSpeedup: boolean }
}

function memoryOf(pid: number): { rssKb: number; hwmKb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0)
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') }
}

export async function run(options: { records?: number; stripeBudget?: string; log?: (line: string) => void } = {}): Promise<SyncBenchResult> {
  const records = options.records ?? 100_000
  const stripeBudget = options.stripeBudget ?? '100/1s'
  const log = options.log ?? (() => undefined)
  const db = await createTestDatabase([INTEGRATION_SCHEMA])
  const prefix = `hubbench:${randomUUID().slice(0, 8)}:`
  const sim = createStripeSimulator({ recordsPerEntity: 0, seed: 'bench-sync' })
  await sim.listen({ port: 0, host: '127.0.0.1' })
  const stripeBase = `http://127.0.0.1:${(sim.server.address() as { port: number }).port}`
  const env = integrationEnv(testIdentityEnv(prefix), db.urlFor(INTEGRATION_SCHEMA.appRole), { STRIPE_API_BASE: stripeBase })
  // The API side (enqueue, connection) in this process; the processors in a worker process.
  const app = createFastify({ service: 'integration-service', logLevel: 'warn' })
  await app.register(integrationService, { config: loadConfig(env) })
  await app.ready()
  const profileDir = process.env.BENCH_CPU_PROF
  let peakKb = 0
  const startWorker = async (budget: string) => {
    const port = await freePort()
    const worker = spawnWorker({ ...env, SYNC_RATE_LIMIT_STRIPE: budget, INTEGRATION_WORKER_PORT: String(port) }, profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [])
    const sample = () => {
      try {
        if (worker.pid) peakKb = Math.max(peakKb, memoryOf(worker.pid).hwmKb)
      } catch {
        // the process is gone
      }
    }
    const sampler = setInterval(sample, 100)
    await waitFor(`http://127.0.0.1:${port}/ready`)
    return {
      worker,
      stop: async () => {
        sample()
        clearInterval(sampler)
        await stopAll([worker])
      },
    }
  }

  const account = async (count: number) => {
    const apiKey = `sk_test_${randomUUID().replaceAll('-', '')}`
    const accountId = ((await (await fetch(`${stripeBase}/_sim/accounts/lookup?credential=${apiKey}`)).json()) as { accountId: string }).accountId
    await fetch(`${stripeBase}/_sim/accounts/${accountId}/seed`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ entity: 'customer', count }) })
    const tenantId = randomUUID()
    const venueId = randomUUID()
    const connectionId = randomUUID()
    await app.db.withTenant(tenantId, async (trx) => {
      await app.connections.insert(trx, { id: connectionId, tenantId, venueId, provider: 'stripe', authType: 'api_key', createdBy: 'bench', sealed: app.vault.seal(tenantId, connectionId, { apiKey }) })
      await app.connections.update(trx, connectionId, { status: 'active', accountId })
    })
    return { apiKey, tenantId, venueId, connectionId }
  }
  type Account = Awaited<ReturnType<typeof account>>

  const syncOnce = async (c: Account, mode: 'full' | 'incremental', label: string, worker: { pid?: number | undefined }): Promise<SyncRunFigures> => {
    const started = performance.now()
    const { jobs } = await app.syncEngine.enqueueSync({ tenantId: c.tenantId, venueId: c.venueId, connectionId: c.connectionId, entities: ['customer'], mode, trigger: 'batch', queue: 'high' })
    const syncLogId = jobs[0]?.syncLogId as string
    let lastReport = 0
    for (;;) {
      const row = (
        await db.adminQuery<{ status: string; records_fetched: number; created_at: Date; finished_at: Date | null; error_code: string | null }>(
          'select status, records_fetched, created_at, finished_at, error_code from integration.sync_logs where id = $1',
          [syncLogId],
        )
      )[0]
      if (row && ['succeeded', 'partial', 'failed', 'cancelled'].includes(row.status)) {
        if (row.status !== 'succeeded') throw new Error(`${label} run ended ${row.status} (${String(row.error_code)})`)
        const wallSeconds = ((row.finished_at as Date).getTime() - row.created_at.getTime()) / 1000
        return { records: row.records_fetched, wallSeconds, recordsPerSecond: row.records_fetched / wallSeconds }
      }
      if (row && performance.now() - lastReport > 2_000) {
        lastReport = performance.now()
        log(`  ${label}: ${fmt(row.records_fetched)} fetched after ${((performance.now() - started) / 1000).toFixed(1)} s, worker RSS ${fmt(worker.pid ? memoryOf(worker.pid).rssKb / 1024 : 0)} MB`)
      }
      await sleep(25)
    }
  }
  const countLive = async (connectionId: string) => Number((await db.adminQuery<{ count: string }>('select count(*) from integration.records where connection_id = $1 and deleted_at is null', [connectionId]))[0]?.count)

  try {
    log(`seeding 2 × ${fmt(records)} customers in the Stripe simulator`)
    const a = await account(records)
    const b = await account(records)

    // Budget lifted: how fast the engine itself goes.
    const liftedWorker = await startWorker(LIFTED_BUDGET)
    let lifted: SyncBenchResult['lifted']
    try {
      const full = await syncOnce(a, 'full', 'lifted full', liftedWorker.worker)
      if ((await countLive(a.connectionId)) !== records) throw new Error(`expected ${records} records after the full run`)
      const incremental = await syncOnce(a, 'incremental', 'lifted incremental', liftedWorker.worker)
      const fullUnchanged = await syncOnce(a, 'full', 'lifted full, unchanged', liftedWorker.worker)
      lifted = { full, incremental: { ...incremental, speedup: full.wallSeconds / incremental.wallSeconds }, fullUnchanged }
    } finally {
      await liftedWorker.stop()
    }

    // At the budget: how close to the provider's ceiling.
    const budget = parseRateBudget(stripeBudget)
    const ceiling = (budget.requests / (budget.windowMs / 1000)) * PAGE_SIZE
    const budgetWorker = await startWorker(stripeBudget)
    let budgetedFull: SyncRunFigures
    try {
      budgetedFull = await syncOnce(b, 'full', `full at ${stripeBudget}`, budgetWorker.worker)
      if ((await countLive(b.connectionId)) !== records) throw new Error(`expected ${records} records after the budgeted run`)
    } finally {
      await budgetWorker.stop()
    }

    // The limits, one at a time so neither competes with the other.
    log('limits: listing alone, then one Postgres client upserting')
    // Its own process, and asynchronously: the simulator it lists lives in this one.
    const listed = await new Promise<{ records: number; seconds: number }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/sync/list-rate.ts'), stripeBase, a.apiKey], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
      let out = ''
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
      child.once('error', reject)
      child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop() as string) as { records: number; seconds: number }) : reject(new Error(`list-rate exited ${String(code)}`))))
    })
    const upsertRows = Math.min(records, 20_000)
    const rows: RecordInput[] = []
    for await (const page of createStripeAdapter().listChanges({ baseUrl: stripeBase, credentials: { apiKey: a.apiKey } }, 'customer', { mode: 'full', cursor: null })) {
      rows.push(...prepareRecords(page.records, []).rows)
      if (rows.length >= upsertRows) break
    }
    const c = await account(0)
    const repository = createRecordRepository()
    const scope = { tenantId: c.tenantId, venueId: c.venueId, connectionId: c.connectionId, provider: 'stripe' as const, entity: 'customer' as const }
    const upsertStarted = performance.now()
    for (let i = 0; i < rows.length; i += 1_000) await app.db.withTenant(c.tenantId, (trx) => repository.upsertBatch(trx, scope, rows.slice(i, i + 1_000), null))
    const upsertSeconds = (performance.now() - upsertStarted) / 1000

    const peakRssMb = peakKb / 1024
    const ofCeiling = budgetedFull.recordsPerSecond / ceiling
    return {
      records,
      worker: 'child process',
      lifted,
      budgeted: { budget: stripeBudget, ceiling, full: budgetedFull, ofCeiling },
      limits: { listRecordsPerSecond: listed.records / listed.seconds, upsertRowsPerSecond: rows.length / upsertSeconds, upsertRows: rows.length },
      peakRssMb,
      targets: {
        liftedFull: lifted.full.recordsPerSecond >= 20_000,
        liftedUnchanged: lifted.fullUnchanged.recordsPerSecond >= 30_000,
        budgetShare: ofCeiling >= 0.97,
        peakRss: peakRssMb < 300,
        incrementalSpeedup: lifted.incremental.speedup >= 5,
      },
    }
  } finally {
    await app.close()
    await sim.close()
    await db.drop()
    await deleteRedisPrefix(prefix)
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const records = process.argv[2] ? Number(process.argv[2]) : undefined
  const result = await run({ ...(records ? { records } : {}), ...(process.argv[3] ? { stripeBudget: process.argv[3] } : {}), log: (line) => console.log(line) })
  const ok = (pass: boolean) => (pass ? 'ok' : 'MISSED')
  const { lifted, budgeted, limits } = result
  const rate = (figures: SyncRunFigures) => `${fmt(figures.recordsPerSecond).padStart(7)} records/s (${fmt(figures.records)} in ${figures.wallSeconds.toFixed(2)} s)`
  console.log(`
sync bench: ${fmt(result.records)} Stripe customers per account → Postgres through the integration-worker (${result.worker})
  budget lifted (${LIFTED_BUDGET}):
    full                    ${rate(lifted.full)}   [target ≥ 20,000/s: ${ok(result.targets.liftedFull)}]
    full, data unchanged    ${rate(lifted.fullUnchanged)}   [target ≥ 30,000/s: ${ok(result.targets.liftedUnchanged)}]
    incremental, unchanged  ${lifted.incremental.wallSeconds.toFixed(3)} s, ${lifted.incremental.speedup.toFixed(1)}× faster than the full run   [target ≥ 5×: ${ok(result.targets.incrementalSpeedup)}]
  at the Stripe budget (${budgeted.budget}, ceiling ${fmt(budgeted.ceiling)} records/s = requests/s × ${PAGE_SIZE} per page):
    full                    ${rate(budgeted.full)} = ${(budgeted.ofCeiling * 100).toFixed(1)} % of the ceiling   [target ≥ 97 %: ${ok(result.targets.budgetShare)}]
  limits, measured in this run:
    simulator listed through the adapter, nothing written   ${fmt(limits.listRecordsPerSecond)} records/s
    one Postgres client, the engine's upsert (new rows)      ${fmt(limits.upsertRowsPerSecond)} rows/s (${fmt(limits.upsertRows)} rows, 1,000 per transaction)
  worker peak RSS ${fmt(result.peakRssMb)} MB (both workers)   [target < 300 MB: ${ok(result.targets.peakRss)}]`)
}
