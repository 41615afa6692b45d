// Ten connections of ten tenants syncing at once through one integration-worker process: the
// aggregate records/s, each connection's own rate, and whether each stayed inside its provider
// budget. The Stripe simulator logs every list request per account; a token bucket of
// `requests` per window (burst = requests) allows at most `requests + rate × t` requests in any
// stretch of t, which is checked for every stretch between two requests of an account.
//
//   npx tsx bench/sync/concurrent.ts [records per connection, default 10000] [budget, default 100/1s]
//   BENCH_CONNECTIONS (default 10)
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
import { parseRateBudget } from '../../services/integration-service/src/plugins/app/sync/rate-limiter.ts'
import { fmt, freePort, integrationEnv, spawnWorker, stopAll, testIdentityEnv, waitFor } from '../support.ts'

const PAGE_SIZE = 100
const TARGET_AGGREGATE = 20_000

function hwmKbOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0)
}

/** The most requests any stretch of an account's log went over what the bucket allows (≤ 0: within budget). */
export function worstExcess(times: number[], budget: { requests: number; windowMs: number }): number {
  const sorted = [...times].sort((a, b) => a - b)
  const perMs = budget.requests / budget.windowMs
  let worst = Number.NEGATIVE_INFINITY
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i; j < sorted.length; j++) {
      const allowed = budget.requests + perMs * ((sorted[j] as number) - (sorted[i] as number))
      worst = Math.max(worst, j - i + 1 - allowed)
    }
  }
  return worst
}

export async function run(options: { recordsPerConnection?: number; budget?: string; connections?: number; log?: (line: string) => void } = {}) {
  const perConnection = options.recordsPerConnection ?? 10_000
  const budgetText = options.budget ?? '100/1s'
  const count = options.connections ?? 10
  const log = options.log ?? (() => undefined)
  const budget = parseRateBudget(budgetText)
  const db = await createTestDatabase([INTEGRATION_SCHEMA])
  const prefix = `hubbench:${randomUUID().slice(0, 8)}:`
  const sim = createStripeSimulator({ recordsPerEntity: 0, seed: 'bench-sync-concurrent' })
  const requestsByKey = new Map<string, number[]>()
  sim.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/v1/customers')) return
    const key = String(request.headers.authorization ?? '').replace(/^Bearer\s+/i, '')
    const times = requestsByKey.get(key) ?? []
    times.push(Date.now())
    requestsByKey.set(key, times)
  })
  await sim.listen({ port: 0, host: '127.0.0.1' })
  const stripeBase = `http://127.0.0.1:${(sim.server.address() as { port: number }).port}`
  const env = integrationEnv(testIdentityEnv(prefix), db.urlFor(INTEGRATION_SCHEMA.appRole), {
    STRIPE_API_BASE: stripeBase,
    SYNC_RATE_LIMIT_STRIPE: budgetText,
    // All ten at once in one worker (the default of 4 per queue would run them four at a time).
    SYNC_CONCURRENCY_HIGH: String(count),
  })
  const app = createFastify({ service: 'integration-service', logLevel: 'warn' })
  await app.register(integrationService, { config: loadConfig(env) })
  await app.ready()
  const workerPort = await freePort()
  const worker = spawnWorker({ ...env, INTEGRATION_WORKER_PORT: String(workerPort) })
  let peakKb = 0
  const sampler = setInterval(() => {
    try {
      if (worker.pid) peakKb = Math.max(peakKb, hwmKbOf(worker.pid))
    } catch {
      // gone
    }
  }, 100)
  try {
    await waitFor(`http://127.0.0.1:${workerPort}/ready`)
    log(`seeding ${count} accounts × ${fmt(perConnection)} customers`)
    const connections = []
    for (let i = 0; i < count; i++) {
      const apiKey = `sk_test_${randomUUID().replaceAll('-', '')}`
      const accountId = ((await (await fetch(`${stripeBase}/_sim/accounts/lookup?credential=${apiKey}`)).json()) as { accountId: string }).accountId
      await fetch(`${stripeBase}/_sim/accounts/${accountId}/seed`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ entity: 'customer', count: perConnection }) })
      const tenantId = randomUUID()
      const venueId = randomUUID()
      const connectionId = randomUUID()
      await app.db.withTenant(tenantId, async (trx) => {
        await app.connections.insert(trx, { id: connectionId, tenantId, venueId, provider: 'stripe', authType: 'api_key', createdBy: 'bench', sealed: app.vault.seal(tenantId, connectionId, { apiKey }) })
        await app.connections.update(trx, connectionId, { status: 'active', accountId })
      })
      connections.push({ apiKey, tenantId, venueId, connectionId })
    }
    requestsByKey.clear()
    const logs = await Promise.all(
      connections.map(async (c) => {
        const { jobs } = await app.syncEngine.enqueueSync({ tenantId: c.tenantId, venueId: c.venueId, connectionId: c.connectionId, entities: ['customer'], mode: 'full', trigger: 'batch', queue: 'high' })
        return jobs[0]?.syncLogId as string
      }),
    )
    let lastReport = 0
    for (;;) {
      const rows = await db.adminQuery<{ status: string; fetched: number }>('select status, records_fetched as fetched from integration.sync_logs where id = any($1::uuid[])', [logs])
      if (rows.every((row) => ['succeeded', 'partial', 'failed', 'cancelled'].includes(row.status))) {
        const bad = rows.filter((row) => row.status !== 'succeeded')
        if (bad.length > 0) throw new Error(`${bad.length} runs did not succeed: ${bad.map((row) => row.status).join(', ')}`)
        break
      }
      if (Date.now() - lastReport > 2_000) {
        lastReport = Date.now()
        log(`  ${fmt(rows.reduce((sum, row) => sum + Number(row.fetched), 0))} of ${fmt(perConnection * count)} fetched`)
      }
      await sleep(50)
    }
    const runs = await db.adminQuery<{ fetched: number; created_at: Date; finished_at: Date }>('select records_fetched as fetched, created_at, finished_at from integration.sync_logs where id = any($1::uuid[])', [logs])
    const first = Math.min(...runs.map((row) => row.created_at.getTime()))
    const last = Math.max(...runs.map((row) => row.finished_at.getTime()))
    const total = runs.reduce((sum, row) => sum + Number(row.fetched), 0)
    const aggregate = total / ((last - first) / 1000)
    const perRun = runs.map((row) => Number(row.fetched) / ((row.finished_at.getTime() - row.created_at.getTime()) / 1000))
    const ceiling = (budget.requests / (budget.windowMs / 1000)) * PAGE_SIZE
    // Within one request of the bucket (the simulator's clock is not Redis' clock).
    const excess = connections.map((c) => worstExcess(requestsByKey.get(c.apiKey) ?? [], budget))
    const respected = excess.every((e) => e <= 1)
    return { count, perConnection, total, aggregate, perRun, ceiling, excess, respected, peakRssMb: peakKb / 1024 }
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
  const budget = process.argv[3]
  const connections = process.env.BENCH_CONNECTIONS ? Number(process.env.BENCH_CONNECTIONS) : undefined
  const r = await run({ ...(records ? { recordsPerConnection: records } : {}), ...(budget ? { budget } : {}), ...(connections ? { connections } : {}), log: (line) => console.log(line) })
  const ok = (pass: boolean) => (pass ? 'ok' : 'MISSED')
  const sorted = [...r.perRun].sort((a, b) => a - b)
  console.log(`
bench/sync (concurrent): ${r.count} connections of ${r.count} tenants, ${fmt(r.perConnection)} Stripe customers each, one worker
  aggregate            ${fmt(r.aggregate)} records/s (${fmt(r.total)} records, first enqueue to last finish)   [target ≥ ${fmt(TARGET_AGGREGATE)}/s: ${ok(r.aggregate >= TARGET_AGGREGATE)}]
  per connection       ${fmt(sorted[0] ?? 0)}–${fmt(sorted[sorted.length - 1] ?? 0)} records/s, each against its own budget's ceiling of ${fmt(r.ceiling)}/s (${r.count} × = ${fmt(r.ceiling * r.count)}/s)
  budgets respected    worst stretch ${fmt(Math.max(...r.excess), 1)} requests over the token bucket (≤ 1 allowed for clock skew)   [${ok(r.respected)}]
  worker peak RSS      ${fmt(r.peakRssMb)} MB   [target < 300 MB: ${ok(r.peakRssMb < 300)}]`)
}
