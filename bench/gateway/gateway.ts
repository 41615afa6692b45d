// bench/gateway: GET /api/v1/venues/:id straight to venue-service and through the gateway, in the
// same run, 50 connections each. Prints req/s, the ratio and p50/p99 latencies.
import { randomUUID } from 'node:crypto'
import autocannon from 'autocannon'
import { mintDevToken } from '@hub/service-kit'
import { createTestDatabase } from '@hub/service-kit/testing'
import { VENUE_SCHEMA } from '../../services/venue-service/src/db/schema.ts'
import { benchEnv, figuresOf, fmt, freePort, startService, stopAll, waitFor } from '../support.ts'

const DURATION = Number(process.env.BENCH_SECONDS ?? 10)
const CONNECTIONS = 50

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
    console.log(`  gateway keeps ${fmt(ratio * 100, 1)}% of direct throughput (aim: at least 60%)`)
    return { direct, gateway, ratio }
  } finally {
    await stopAll(children)
    await db.drop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
