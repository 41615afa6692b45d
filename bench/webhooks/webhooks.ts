// Webhook intake and processing, each process as in production (gateway, integration-service, the
// integration-worker), with validly signed Stripe customer events carrying their object:
//  - acknowledgements: N events sent back to back by 32 senders through the gateway, and the same
//    straight to integration-service (the limit the gateway is compared with), acks/s and p99;
//  - a steady open-loop 500 events/s through the gateway (`steadyLoad`): p99 of the acknowledgement;
//  - processing: the time from the last acknowledgement until every event is processed, each
//    exactly once (one inbox row, one attempt, one sync log per event, one record per customer),
//    and how many provider calls it took (the Stripe simulator counts them; the events carry
//    their object, so the target is none).
//
//   npx tsx bench/webhooks/webhooks.ts            BENCH_EVENTS (2000), BENCH_RATE (500), BENCH_SECONDS (5)
//   BENCH_CPU_PROF=<dir> profiles the gateway, integration-service and the worker (node --cpu-prof) and prints
//   where their time went.
import { createHmac, randomUUID } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { Pool } from 'undici'
import { createFastify } from '@hub/service-kit'
import { createTestDatabase, deleteRedisPrefix } from '@hub/service-kit/testing'
import { createStripeSimulator } from '../../packages/provider-simulators/src/stripe/index.ts'
import integrationService from '../../services/integration-service/src/app.ts'
import { loadConfig } from '../../services/integration-service/src/config.ts'
import { INTEGRATION_SCHEMA } from '../../services/integration-service/src/db/schema.ts'
import { summarise } from '../gateway/tracing-profile.ts'
import { cpuMs } from '../gateway/tracing.ts'
import { benchEnv, fmt, freePort, integrationEnv, startService, spawnWorker, steadyLoad, stopAll, waitFor } from '../support.ts'

const EVENTS = Number(process.env.BENCH_EVENTS ?? 2_000)
const RATE = Number(process.env.BENCH_RATE ?? 500)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const SENDERS = 32
const TARGETS = { acksPerSecond: 1_500, steadyP99Ms: 20, drainSeconds: 5 }

/** CPU time of every Postgres process on the box, in ms (backends, WAL writer, checkpointer). */
function postgresCpuMs(): number {
  let total = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') total += cpuMs(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return total
}

interface Delivery {
  method: 'POST'
  path: string
  headers: Record<string, string>
  body: string
}

/** A Stripe `customer.updated` event for a new customer each time, signed as Stripe signs it. */
function eventFactory(secret: string, path: string) {
  let n = 0
  return (): Delivery => {
    n++
    const created = Math.floor(Date.now() / 1000)
    const id = `cus_bench${String(n).padStart(8, '0')}${randomUUID().slice(0, 6)}`
    const body = JSON.stringify({
      id: `evt_${randomUUID().replaceAll('-', '')}`,
      object: 'event',
      api_version: '2025-01-27.acacia',
      created,
      type: 'customer.updated',
      livemode: false,
      data: { object: { id, object: 'customer', name: `Bench Customer ${n}`, email: `bench${n}@example.org`, phone: null, created, metadata: {} } },
    })
    const signature = createHmac('sha256', secret).update(`${created}.${body}`).digest('hex')
    return { method: 'POST', path, headers: { 'content-type': 'application/json', 'stripe-signature': `t=${created},v1=${signature}` }, body }
  }
}

/** `count` deliveries by `senders` back to back: acks/s and latency quantiles. */
async function closedLoop(origin: string, next: () => Delivery, count: number, senders: number): Promise<{ rps: number; p50: number; p99: number; lastAckAt: number; failures: number }> {
  const pool = new Pool(origin, { connections: senders, pipelining: 1 })
  const latencies: number[] = []
  let failures = 0
  let sent = 0
  let lastAckAt = 0
  const started = performance.now()
  try {
    await Promise.all(
      Array.from({ length: senders }, async () => {
        while (sent < count) {
          sent++
          const delivery = next()
          const at = performance.now()
          const response = await pool.request(delivery)
          await response.body.dump()
          lastAckAt = Date.now()
          latencies.push(performance.now() - at)
          if (response.statusCode !== 200) failures++
        }
      }),
    )
  } finally {
    await pool.close()
  }
  const seconds = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0
  return { rps: count / seconds, p50: at(0.5), p99: at(0.99), lastAckAt, failures }
}

export async function run() {
  const db = await createTestDatabase([INTEGRATION_SCHEMA])
  const common = benchEnv()
  const providerCalls = { count: 0 }
  const sim = createStripeSimulator({ recordsPerEntity: 0, seed: 'bench-webhooks' })
  sim.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/_sim')) providerCalls.count++
  })
  await sim.listen({ port: 0, host: '127.0.0.1' })
  const stripeBase = `http://127.0.0.1:${(sim.server.address() as { port: number }).port}`
  const [integrationPort, gatewayPort, workerPort] = [await freePort(), await freePort(), await freePort()]
  const env = integrationEnv(common, db.urlFor(INTEGRATION_SCHEMA.appRole), {
    STRIPE_API_BASE: stripeBase,
    INTEGRATION_SERVICE_PORT: String(integrationPort),
    INTEGRATION_WORKER_PORT: String(workerPort),
  })
  // Setting up the connection in this process; the services run as their own processes.
  const setup = createFastify({ service: 'integration-service', logLevel: 'warn' })
  await setup.register(integrationService, { config: loadConfig(env) })
  await setup.ready()
  const profileDir = process.env.BENCH_CPU_PROF
  const profiled = (name: string) => {
    if (!profileDir) return []
    mkdirSync(join(profileDir, name), { recursive: true })
    return ['--cpu-prof', '--cpu-prof-dir', join(profileDir, name)]
  }
  const children = [
    startService('services/integration-service/src/server.ts', env, profiled('integration-service')),
    spawnWorker(env, profiled('integration-worker')),
    startService(
      'services/api-gateway/src/server.ts',
      {
        ...common,
        METRICS_PORT: '0',
        API_GATEWAY_PORT: String(gatewayPort),
        INTEGRATION_SERVICE_URL: `http://127.0.0.1:${integrationPort}`,
        VENUE_SERVICE_URL: 'http://127.0.0.1:9',
        COMPLIANCE_SERVICE_URL: 'http://127.0.0.1:9',
        // Rate limiting stays on (its Redis round trip is part of the cost) but never trips: one
        // address sends everything here, where a provider spreads over many.
        RATE_LIMIT_ANONYMOUS_MAX: '100000000',
        MAX_IN_FLIGHT_PER_CLIENT: '1000',
      },
      profiled('api-gateway'),
    ),
  ]
  try {
    await waitFor(`http://127.0.0.1:${integrationPort}/ready`)
    await waitFor(`http://127.0.0.1:${workerPort}/ready`)
    await waitFor(`http://127.0.0.1:${gatewayPort}/ready`)
    const tenantId = randomUUID()
    const connectionId = randomUUID()
    const secret = `whsec_${randomUUID().replaceAll('-', '')}`
    await setup.db.withTenant(tenantId, async (trx) => {
      await setup.connections.insert(trx, {
        id: connectionId,
        tenantId,
        venueId: randomUUID(),
        provider: 'stripe',
        authType: 'api_key',
        createdBy: 'bench',
        sealed: setup.vault.seal(tenantId, connectionId, { apiKey: `sk_test_${'b'.repeat(24)}`, webhookSecret: secret }),
      })
      await setup.connections.update(trx, connectionId, { status: 'active' })
    })
    const path = `/api/v1/integrations/webhooks/stripe/${connectionId}`
    const next = eventFactory(secret, path)
    const gateway = `http://127.0.0.1:${gatewayPort}`
    const direct = `http://127.0.0.1:${integrationPort}`

    const processedCount = async () => Number((await db.adminQuery<{ n: string }>('select count(*) as n from integration.webhook_inbox where processed_at is not null'))[0]?.n)
    const drain = async (expected: number, lastAckAt: number): Promise<number> => {
      const deadline = Date.now() + 120_000
      while ((await processedCount()) < expected) {
        if (Date.now() > deadline) throw new Error(`only ${await processedCount()} of ${expected} events processed after 120 s`)
        await sleep(20)
      }
      const [last] = await db.adminQuery<{ at: Date }>('select max(processed_at) as at from integration.webhook_inbox')
      return Math.max(0, ((last?.at as Date).getTime() - lastAckAt) / 1000)
    }

    // Warm-up (JIT, pools, the connection's caches), then drained so it does not overlap.
    await closedLoop(gateway, next, 200, SENDERS)
    await drain(200, Date.now())
    const directRun = await closedLoop(direct, next, EVENTS, SENDERS)
    console.log(`  acknowledged straight to integration-service: ${fmt(directRun.rps)} events/s; processing them…`)
    await drain(200 + EVENTS, directRun.lastAckAt)
    const callsBefore = providerCalls.count
    // CPU per event of each process over the batch (acknowledged and processed), from /proc: what
    // the code costs, whatever else the box does; Postgres as the sum of its processes.
    const cpuNow = () => [...children.map((child) => cpuMs(child.pid)), postgresCpuMs()]
    const cpuBefore = cpuNow()
    const gatewayStartedAt = Date.now()
    const gatewayRun = await closedLoop(gateway, next, EVENTS, SENDERS)
    console.log(`  acknowledged through the gateway: ${fmt(gatewayRun.rps)} events/s; processing them…`)
    const drainSeconds = await drain(200 + 2 * EVENTS, gatewayRun.lastAckAt)
    console.log(`  processed ${fmt(drainSeconds, 2)} s after the last acknowledgement; now ${RATE} events/s open-loop for ${SECONDS} s…`)
    const cpuPerEvent = cpuNow().map((ms, i) => ((ms - (cpuBefore[i] ?? Number.NaN)) * 1000) / EVENTS)
    const callsForBatch = providerCalls.count - callsBefore
    // Acknowledging and processing share this box's two cores: the whole batch, first send to last processed.
    const throughSeconds = (gatewayRun.lastAckAt - gatewayStartedAt) / 1000 + drainSeconds

    // Each event exactly once: one inbox row, processed in one attempt, one sync log, one record.
    const [once] = await db.adminQuery<{ inbox: string; single: string; logs: string; records: string }>(
      `select (select count(*) from integration.webhook_inbox) as inbox,
              (select count(*) from integration.webhook_inbox where attempts = 1 and processed_at is not null and last_error is null) as single,
              (select count(*) from integration.sync_logs where kind = 'webhook' and status = 'succeeded') as logs,
              (select count(*) from integration.records where connection_id = $1) as records`,
      [connectionId],
    )
    const expected = 200 + 2 * EVENTS
    const exactlyOnce = [once?.inbox, once?.single, once?.logs, once?.records].every((n) => Number(n) === expected)

    const steady = await steadyLoad({ url: `${gateway}${path}`, headers: {}, connections: 50, rate: RATE, seconds: SECONDS, warmupSeconds: 1, request: next })
    await drain(expected + Math.round(RATE * (SECONDS + 1)), Date.now())

    const ok = (pass: boolean) => (pass ? 'ok' : 'MISSED')
    console.log(`
bench/webhooks — signed Stripe customer.updated events (each carries its customer), ${SENDERS} senders, ${fmt(EVENTS)} events per run
  acknowledged, straight to integration-service  ${fmt(directRun.rps).padStart(6)} events/s   p50 ${fmt(directRun.p50, 1)} ms   p99 ${fmt(directRun.p99, 1)} ms   (the limit: the service alone)
  acknowledged, through the gateway               ${fmt(gatewayRun.rps).padStart(6)} events/s   p50 ${fmt(gatewayRun.p50, 1)} ms   p99 ${fmt(gatewayRun.p99, 1)} ms   = ${fmt((gatewayRun.rps / directRun.rps) * 100, 1)} % of direct   [target ≥ ${fmt(TARGETS.acksPerSecond)}/s: ${ok(gatewayRun.rps >= TARGETS.acksPerSecond)}]
  steady ${RATE} events/s open-loop through the gateway, ${SECONDS} s: achieved ${fmt(steady.achieved)}/s, p50 ${fmt(steady.p50, 1)} ms, p99 ${fmt(steady.p99, 1)} ms, max ${fmt(steady.max, 1)} ms, ${steady.failures} failures   [target p99 < ${TARGETS.steadyP99Ms} ms: ${ok(steady.p99 < TARGETS.steadyP99Ms && steady.failures === 0)}]
  processed within ${drainSeconds.toFixed(2)} s of the last acknowledgement (${fmt(EVENTS)} events through the gateway)   [target ≤ ${TARGETS.drainSeconds} s: ${ok(drainSeconds <= TARGETS.drainSeconds)}]
  the batch from its first send to its last event processed: ${throughSeconds.toFixed(2)} s = ${fmt(EVENTS / throughSeconds)} events/s acknowledged and processed
  CPU per event over that batch: integration-service ${fmt(cpuPerEvent[0] ?? 0)} µs, worker ${fmt(cpuPerEvent[1] ?? 0)} µs, gateway ${fmt(cpuPerEvent[2] ?? 0)} µs, Postgres ${fmt(cpuPerEvent[3] ?? 0)} µs (at that cost two cores would do ${fmt(2_000_000 / (cpuPerEvent.reduce((a, b) => a + b, 0) || 1))} events/s)
  exactly once: ${once?.inbox} inbox rows, ${once?.single} processed in one attempt, ${once?.logs} sync logs, ${once?.records} records, for ${expected} events   [${ok(exactlyOnce)}]
  provider calls while processing them: ${callsForBatch}   [target 0: the events carry their object; ${ok(callsForBatch === 0)}]
  failures: ${directRun.failures + gatewayRun.failures} non-200 answers in the closed-loop runs`)

    return { directRun, gatewayRun, steady, drainSeconds, throughSeconds, exactlyOnce, providerCalls: callsForBatch, cpuPerEvent }
  } finally {
    await stopAll(children)
    await setup.close()
    await sim.close()
    await db.drop()
    await deleteRedisPrefix(common.REDIS_KEY_PREFIX ?? '')
    if (profileDir) {
      for (const name of ['api-gateway', 'integration-service', 'integration-worker']) {
        const dir = join(profileDir, name)
        // tsx's loader thread writes its own (small) profile; the main thread's is the largest.
        const file = readdirSync(dir)
          .filter((f) => f.endsWith('.cpuprofile'))
          .map((f) => join(dir, f))
          .sort((a, b) => statSync(b).size - statSync(a).size)[0]
        if (!file) continue
        const { total, byPackage, byFunction } = summarise(file, { from: Number.POSITIVE_INFINITY, to: 0 })
        const pct = (us: number) => `${fmt((us / total) * 100, 1).padStart(5)} %`
        console.log(`\n${name}: ${fmt(total / 1000)} ms of CPU sampled (idle excluded)`)
        for (const [pkg, us] of byPackage.slice(0, 12)) console.log(`    ${pct(us)}  ${pkg}`)
        console.log('  top functions:')
        for (const [fn, us] of byFunction.slice(0, 20)) console.log(`    ${pct(us)}  ${fn}`)
      }
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await run()
