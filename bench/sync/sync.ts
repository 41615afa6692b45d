// Sync throughput through the real worker path: 100,000 customers in the Stripe simulator synced
// into Postgres by the integration-worker running as its own process (as in production), first a
// full run, then an incremental run with nothing changed (and, for reference, a second full run
// over the unchanged data). Prints records/s, wall time and the
// worker's peak resident memory (VmHWM sampled from /proc/<pid>/status).
//
//   npx tsx bench/sync/sync.ts [records] [stripe budget, default 100/1s]
//
// The Stripe request budget decides the ceiling of a full run (100 customers per page): Stripe's
// test-mode limit of 25 requests/s caps any client at about 2,500 records/s, so the bench uses
// the live-mode limit (100/s), as a production deployment would.
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { createFastify } from '@hub/service-kit'
import { TEST_INTERNAL_KEYS, TEST_JWT, TEST_REDIS_URL, createTestDatabase, deleteRedisPrefix } from '@hub/service-kit/testing'
import { generateKeyRingJson } from '@hub/crypto'
import { createStripeSimulator } from '../../packages/provider-simulators/src/stripe/index.ts'
import integrationService from '../../services/integration-service/src/app.ts'
import { loadConfig } from '../../services/integration-service/src/config.ts'
import { INTEGRATION_SCHEMA } from '../../services/integration-service/src/db/schema.ts'
import { fmt, freePort, startService, stopAll, waitFor } from '../support.ts'

export interface SyncRunFigures {
  records: number
  /** From enqueue to the sync log's finish. */
  wallSeconds: number
  recordsPerSecond: number
}

export interface SyncBenchResult {
  records: number
  stripeBudget: string
  worker: 'child process'
  full: SyncRunFigures
  incremental: SyncRunFigures & { speedup: number }
  /** A second full run over unchanged data: every record compared by hash, none rewritten. */
  fullUnchanged: SyncRunFigures
  peakRssMb: number
  targets: { fullRecordsPerSecond: boolean; peakRss: boolean; incrementalSpeedup: boolean }
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
  const workerPort = await freePort()
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: db.urlFor(INTEGRATION_SCHEMA.appRole),
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    JWT_SECRET: TEST_JWT.secret,
    JWT_ISSUER: TEST_JWT.issuer,
    JWT_AUDIENCE: TEST_JWT.audience,
    INTERNAL_AUTH_KEYS: JSON.stringify(TEST_INTERNAL_KEYS),
    ENCRYPTION_KEYS: generateKeyRingJson([1]),
    COMPLIANCE_SERVICE_URL: 'http://127.0.0.1:9',
    VENUE_SERVICE_URL: 'http://127.0.0.1:9',
    STRIPE_API_BASE: stripeBase,
    SYNC_RATE_LIMIT_STRIPE: stripeBudget,
    INTEGRATION_WORKER_PORT: String(workerPort),
  }
  // The API side (enqueue, connection) in this process; the processors in the worker process.
  const app = createFastify({ service: 'integration-service', logLevel: 'warn' })
  await app.register(integrationService, { config: loadConfig(env) })
  await app.ready()
  const worker = startService('services/integration-service/src/worker.ts', env)
  let peakKb = 0
  const sampler = setInterval(() => {
    try {
      if (worker.pid) peakKb = Math.max(peakKb, memoryOf(worker.pid).hwmKb)
    } catch {
      // the process is gone
    }
  }, 100)

  try {
    await waitFor(`http://127.0.0.1:${workerPort}/ready`)
    const apiKey = `sk_test_${'S'.repeat(24)}`
    const accountId = ((await (await fetch(`${stripeBase}/_sim/accounts/lookup?credential=${apiKey}`)).json()) as { accountId: string }).accountId
    log(`seeding ${fmt(records)} customers in the Stripe simulator`)
    await fetch(`${stripeBase}/_sim/accounts/${accountId}/seed`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ entity: 'customer', count: records }) })

    const tenantId = randomUUID()
    const venueId = randomUUID()
    const connectionId = randomUUID()
    await app.db.withTenant(tenantId, async (trx) => {
      await app.connections.insert(trx, { id: connectionId, tenantId, venueId, provider: 'stripe', authType: 'api_key', createdBy: 'bench', sealed: app.vault.seal(tenantId, connectionId, { apiKey }) })
      await app.connections.update(trx, connectionId, { status: 'active', accountId })
    })

    const syncOnce = async (mode: 'full' | 'incremental'): Promise<SyncRunFigures> => {
      const started = performance.now()
      const { jobs } = await app.syncEngine.enqueueSync({ tenantId, venueId, connectionId, entities: ['customer'], mode, trigger: 'batch', queue: 'high' })
      const syncLogId = jobs[0]?.syncLogId as string
      let lastReport = 0
      for (;;) {
        const row = (await db.adminQuery<{ status: string; records_fetched: number; created_at: Date; finished_at: Date | null; error_code: string | null }>('select status, records_fetched, created_at, finished_at, error_code from integration.sync_logs where id = $1', [syncLogId]))[0]
        if (row && ['succeeded', 'partial', 'failed', 'cancelled'].includes(row.status)) {
          if (row.status !== 'succeeded') throw new Error(`${mode} run ended ${row.status} (${String(row.error_code)})`)
          const wallSeconds = ((row.finished_at as Date).getTime() - row.created_at.getTime()) / 1000
          return { records: row.records_fetched, wallSeconds, recordsPerSecond: row.records_fetched / wallSeconds }
        }
        if (row && performance.now() - lastReport > 2_000) {
          lastReport = performance.now()
          log(`  ${mode}: ${fmt(row.records_fetched)} fetched after ${((performance.now() - started) / 1000).toFixed(1)} s, worker RSS ${fmt(worker.pid ? memoryOf(worker.pid).rssKb / 1024 : 0)} MB`)
        }
        await sleep(25)
      }
    }

    const full = await syncOnce('full')
    const [stored] = await db.adminQuery<{ count: string }>('select count(*) from integration.records where connection_id = $1 and deleted_at is null', [connectionId])
    if (Number(stored?.count) !== records) throw new Error(`expected ${records} records, found ${String(stored?.count)}`)
    const incremental = await syncOnce('incremental')
    const fullUnchanged = await syncOnce('full')
    if (worker.pid) peakKb = Math.max(peakKb, memoryOf(worker.pid).hwmKb)
    const speedup = full.wallSeconds / incremental.wallSeconds
    const peakRssMb = peakKb / 1024
    return {
      records,
      stripeBudget,
      worker: 'child process',
      full,
      incremental: { ...incremental, speedup },
      fullUnchanged,
      peakRssMb,
      targets: { fullRecordsPerSecond: full.recordsPerSecond >= 5_000, peakRss: peakRssMb < 300, incrementalSpeedup: speedup >= 5 },
    }
  } finally {
    clearInterval(sampler)
    await stopAll([worker])
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
  console.log(`
sync bench: ${fmt(result.records)} Stripe customers → Postgres through the integration-worker (${result.worker}), Stripe budget ${result.stripeBudget}
  full         ${fmt(result.full.records)} records in ${result.full.wallSeconds.toFixed(2)} s = ${fmt(result.full.recordsPerSecond)} records/s   [target ≥ 5,000: ${ok(result.targets.fullRecordsPerSecond)}]
  incremental  nothing changed: ${result.incremental.wallSeconds.toFixed(3)} s, ${result.incremental.speedup.toFixed(1)}× faster than the full run   [target ≥ 5×: ${ok(result.targets.incrementalSpeedup)}]
  full again    nothing changed, every record compared by content hash: ${result.fullUnchanged.wallSeconds.toFixed(2)} s = ${fmt(result.fullUnchanged.recordsPerSecond)} records/s
  worker peak RSS ${fmt(result.peakRssMb)} MB   [target < 300 MB: ${ok(result.targets.peakRss)}]`)
}
