// bench/gateway tracing: GET /api/v1/venues/:id through the gateway (and on to venue-service),
// with tracing off and with tracing on at 10 % sampling (parent-based trace-id ratio, exporting
// OTLP/HTTP to a local sink), in one run: two identical stacks, measured alternately
// (off, on, off, on) so drift on a shared machine hits both. Prints req/s, p99 and the cost.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import autocannon from 'autocannon'
import { mintDevToken } from '@hub/service-kit'
import { createTestDatabase } from '@hub/service-kit/testing'
import { VENUE_SCHEMA } from '../../services/venue-service/src/db/schema.ts'
import { benchEnv, figuresOf, fmt, freePort, startService, stopAll, waitFor, type LoadFigures } from '../support.ts'

const DURATION = Number(process.env.BENCH_SECONDS ?? 6)
const CONNECTIONS = 50
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SAMPLE_RATIO = 0.1
/** The target: tracing at 10 % sampling costs at most 5 % of throughput. */
const TARGET_COST = 0.05

/** Accepts OTLP exports and only counts them, so the sink costs the box as little as possible. */
async function startSink(): Promise<{ url: string; exports: () => number; close: () => Promise<void> }> {
  let exports = 0
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      exports++
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, exports: () => exports, close: () => new Promise((resolve) => server.close(() => resolve())) }
}

export async function run() {
  const db = await createTestDatabase([VENUE_SCHEMA])
  const sink = await startSink()
  const common = benchEnv()
  const secret = common.JWT_SECRET ?? ''
  const tracing = { ...(process.env.OTEL_NODE_DISABLED_INSTRUMENTATIONS ? { OTEL_NODE_DISABLED_INSTRUMENTATIONS: process.env.OTEL_NODE_DISABLED_INSTRUMENTATIONS } : {}), OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: String(SAMPLE_RATIO) }
  const stacks = [
    { label: 'tracing off', env: {} },
    { label: `tracing on, ${SAMPLE_RATIO * 100} % sampled`, env: tracing },
  ]
  const ports = await Promise.all(stacks.map(async () => ({ venue: await freePort(), gateway: await freePort() })))
  const children = stacks.flatMap((stack, i) => {
    const port = ports[i] as { venue: number; gateway: number }
    return [
      startService('services/venue-service/src/server.ts', { ...common, ...stack.env, DATABASE_URL: db.urlFor(VENUE_SCHEMA.appRole), VENUE_SERVICE_PORT: String(port.venue) }),
      startService('services/api-gateway/src/server.ts', { ...common, ...stack.env, API_GATEWAY_PORT: String(port.gateway), VENUE_SERVICE_URL: `http://127.0.0.1:${port.venue}`, RATE_LIMIT_USER_MAX: '1000000000', MAX_IN_FLIGHT_PER_CLIENT: '1000' }),
    ]
  })
  try {
    // Four processes start at once on two cores: give them longer than one.
    for (const port of ports) {
      await waitFor(`http://127.0.0.1:${port.venue}/ready`, 180_000)
      await waitFor(`http://127.0.0.1:${port.gateway}/ready`, 180_000)
    }
    const tenantId = randomUUID()
    const token = mintDevToken({ secret, issuer: 'bench', audience: 'venue-hub', tenantId, roles: ['admin'], expiresIn: 3600 })
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
    const created = await fetch(`http://127.0.0.1:${ports[0]?.gateway}/api/v1/venues`, { method: 'POST', headers, body: JSON.stringify({ name: 'Bench Hall', timezone: 'UTC', currency: 'USD' }) })
    const venue = (await created.json()) as { id: string }
    const path = `/api/v1/venues/${venue.id}`

    for (const [i, stack] of stacks.entries()) {
      const probe = await fetch(`http://127.0.0.1:${ports[i]?.gateway}${path}`, { headers })
      if (!probe.ok) throw new Error(`${stack.label}: GET ${path} answered ${probe.status} ${await probe.text()}`)
    }
    const results: LoadFigures[][] = stacks.map(() => [])
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, stack] of stacks.entries()) {
        const url = `http://127.0.0.1:${ports[i]?.gateway}${path}`
        // Warm up connection pools and JIT before measuring.
        await autocannon({ url, connections: CONNECTIONS, duration: 2, headers })
        const result = await autocannon({ url, connections: CONNECTIONS, duration: DURATION, headers })
        results[i]?.push(figuresOf(stack.label, result))
      }
    }
    const mean = (list: LoadFigures[], key: 'rps' | 'p99') => list.reduce((sum, r) => sum + r[key], 0) / list.length
    const [off, on] = results.map((list) => ({ rps: mean(list, 'rps'), p99: mean(list, 'p99'), runs: list.map((r) => fmt(r.rps)).join(', ') })) as [{ rps: number; p99: number; runs: string }, { rps: number; p99: number; runs: string }]
    const cost = 1 - on.rps / off.rps
    console.log(`\nbench/gateway tracing — GET /api/v1/venues/:id through the gateway, ${CONNECTIONS} connections, ${ROUNDS} × ${DURATION} s each, alternating`)
    console.log(`  ${stacks[0]?.label.padEnd(28)} ${fmt(off.rps).padStart(8)} req/s   p99 ${fmt(off.p99, 1)} ms   (runs: ${off.runs})`)
    console.log(`  ${stacks[1]?.label.padEnd(28)} ${fmt(on.rps).padStart(8)} req/s   p99 ${fmt(on.p99, 1)} ms   (runs: ${on.runs}; ${sink.exports()} OTLP exports received)`)
    console.log(`  throughput cost of tracing: ${fmt(cost * 100, 1)} %   (target and limit: at most ${TARGET_COST * 100} %: ${cost <= TARGET_COST ? 'met' : 'NOT met'})`)
    return { off, on, cost }
  } finally {
    await stopAll(children)
    await sink.close()
    await db.drop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
