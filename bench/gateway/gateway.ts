// bench/gateway: GET /api/v1/venues/:id straight to venue-service and through the gateway, in the
// same run, 50 connections each. Prints req/s, the ratio and p50/p99 latencies.
import { randomUUID } from 'node:crypto'
import autocannon from 'autocannon'
import { mintDevToken } from '@hub/service-kit'
import { createTestDatabase } from '@hub/service-kit/testing'
import { VENUE_SCHEMA } from '../../services/venue-service/src/db/schema.ts'
import { benchEnv, figuresOf, fmt, freePort, startService, steadyLoad, stopAll, waitFor } from '../support.ts'

const DURATION = Number(process.env.BENCH_SECONDS ?? 10)
const CONNECTIONS = 50
/** The steady open-loop rate at which the hop's added p99 is read (BENCH_RATE). */
const RATE = Number(process.env.BENCH_RATE ?? 500)

export async function run() {
  const db = await createTestDatabase([VENUE_SCHEMA])
  const common = benchEnv()
  const secret = common.JWT_SECRET ?? ''
  const [venuePort, gatewayPort] = [await freePort(), await freePort()]
  const children = [
    startService('services/venue-service/src/server.ts', { ...common, DATABASE_URL: db.urlFor(VENUE_SCHEMA.appRole), VENUE_SERVICE_PORT: String(venuePort) }),
    startService('services/api-gateway/src/server.ts', {
      ...common,
      API_GATEWAY_PORT: String(gatewayPort),
      VENUE_SERVICE_URL: `http://127.0.0.1:${venuePort}`,
      // Rate limiting stays on (its Redis round trip is part of the cost) but never trips.
      RATE_LIMIT_USER_MAX: '1000000000',
      // One load generator is one caller here: its 50 connections are all in flight at once.
      MAX_IN_FLIGHT_PER_CLIENT: '1000',
    }),
  ]
  try {
    await waitFor(`http://127.0.0.1:${venuePort}/ready`)
    await waitFor(`http://127.0.0.1:${gatewayPort}/ready`)
    const tenantId = randomUUID()
    const token = mintDevToken({ secret, issuer: 'bench', audience: 'venue-hub', tenantId, roles: ['admin'], expiresIn: 3600 })
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
    const created = await fetch(`http://127.0.0.1:${gatewayPort}/api/v1/venues`, { method: 'POST', headers, body: JSON.stringify({ name: 'Bench Hall', timezone: 'UTC', currency: 'USD' }) })
    const venue = (await created.json()) as { id: string }
    const path = `/api/v1/venues/${venue.id}`

    const measure = async (label: string, port: number) => {
      // Warm up connection pools and JIT before measuring.
      await autocannon({ url: `http://127.0.0.1:${port}${path}`, connections: CONNECTIONS, duration: 2, headers })
      const result = await autocannon({ url: `http://127.0.0.1:${port}${path}`, connections: CONNECTIONS, duration: DURATION, headers })
      return { label, ...figuresOf(label, result) }
    }
    const direct = await measure('direct to venue-service', venuePort)
    const gateway = await measure('through api-gateway', gatewayPort)
    console.log(`\nbench/gateway — GET ${'/api/v1/venues/:id'}, ${CONNECTIONS} connections, ${DURATION} s each`)
    for (const r of [direct, gateway]) console.log(`  ${r.label.padEnd(26)} ${fmt(r.rps).padStart(8)} req/s   p50 ${fmt(r.p50, 1)} ms   p99 ${fmt(r.p99, 1)} ms`)
    const ratio = gateway.rps / direct.rps
    console.log(`  gateway keeps ${fmt(ratio * 100, 1)}% of direct throughput, JWT verification and rate limiting on (target: at least 80%; the limit: direct, measured above)`)
    // The hop's cost at a stated load, not at saturation: open-loop, the same rate both ways.
    const steadyDirect = await steadyLoad({ url: `http://127.0.0.1:${venuePort}${path}`, headers, connections: CONNECTIONS, rate: RATE, seconds: DURATION })
    const steadyGateway = await steadyLoad({ url: `http://127.0.0.1:${gatewayPort}${path}`, headers, connections: CONNECTIONS, rate: RATE, seconds: DURATION })
    const added = steadyGateway.p99 - steadyDirect.p99
    console.log(
      `  steady ${RATE} req/s open-loop: direct p99 ${fmt(steadyDirect.p99, 1)} ms (achieved ${fmt(steadyDirect.achieved)}/s), gateway p99 ${fmt(steadyGateway.p99, 1)} ms (achieved ${fmt(steadyGateway.achieved)}/s, ${steadyGateway.failures} failures): the hop adds ${fmt(added, 1)} ms (target ≤ 2 ms)`,
    )
    return { direct, gateway, ratio, steadyDirect, steadyGateway }
  } finally {
    await stopAll(children)
    await db.drop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
