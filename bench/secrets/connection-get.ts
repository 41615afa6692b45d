// bench/secrets (part 2): latency of GET /api/v1/integrations/connections/:id through the gateway
// at 50 connections — JWT at the edge and again in the service, Redis rate limit, RLS-scoped read,
// masked view. Target: p99 under 10 ms.
import { randomUUID } from 'node:crypto'
import autocannon from 'autocannon'
import { mintDevToken } from '@hub/service-kit'
import { createTestDatabase } from '@hub/service-kit/testing'
import { createStripeSimulator } from '@hub/provider-simulators'
import { VENUE_SCHEMA } from '../../services/venue-service/src/db/schema.ts'
import { INTEGRATION_SCHEMA } from '../../services/integration-service/src/db/schema.ts'
import { benchEnv, figuresOf, fmt, freePort, integrationEnv, startService, steadyLoad, stopAll, waitFor } from '../support.ts'
import type { SteadyLoadResult } from '../support.ts'

const DURATION = Number(process.env.BENCH_SECONDS ?? 10)
const STEADY_RATES = [100, 250, 500, 1000]

export async function run() {
  const db = await createTestDatabase([VENUE_SCHEMA, INTEGRATION_SCHEMA])
  const sim = await createStripeSimulator({ recordsPerEntity: 5 })
  await sim.listen({ port: 0, host: '127.0.0.1' })
  const simUrl = `http://127.0.0.1:${(sim.server.address() as { port: number }).port}`
  const [venuePort, integrationPort, gatewayPort] = [await freePort(), await freePort(), await freePort()]
  // Every service's internal key and the JWT secret, as the other benches have them (benchEnv).
  const venueUrl = `http://127.0.0.1:${venuePort}`
  const common: Record<string, string> = { ...benchEnv(), VENUE_SERVICE_URL: venueUrl, INTEGRATION_SERVICE_URL: `http://127.0.0.1:${integrationPort}`, COMPLIANCE_SERVICE_URL: 'http://127.0.0.1:9' }
  const secret = common.JWT_SECRET ?? ''
  const children = [
    startService('services/venue-service/src/server.ts', { ...common, DATABASE_URL: db.urlFor(VENUE_SCHEMA.appRole), VENUE_SERVICE_PORT: String(venuePort) }),
    startService('services/integration-service/src/server.ts', {
      ...integrationEnv(common, db.urlFor(INTEGRATION_SCHEMA.appRole), { STRIPE_API_BASE: simUrl }),
      VENUE_SERVICE_URL: venueUrl,
      INTEGRATION_SERVICE_PORT: String(integrationPort),
    }),
    startService('services/api-gateway/src/server.ts', { ...common, API_GATEWAY_PORT: String(gatewayPort), RATE_LIMIT_USER_MAX: '1000000000', MAX_IN_FLIGHT_PER_CLIENT: '1000' }),
  ]
  try {
    for (const port of [venuePort, integrationPort, gatewayPort]) await waitFor(`http://127.0.0.1:${port}/ready`)
    const token = mintDevToken({ secret, issuer: 'bench', audience: 'venue-hub', tenantId: randomUUID(), roles: ['admin'], expiresIn: 3600 })
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
    const gateway = `http://127.0.0.1:${gatewayPort}`
    const venue = (await (await fetch(`${gateway}/api/v1/venues`, { method: 'POST', headers, body: JSON.stringify({ name: 'Bench Arena', timezone: 'UTC', currency: 'USD' }) })).json()) as { id: string }
    const created = await fetch(`${gateway}/api/v1/integrations/connections`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ venueId: venue.id, provider: 'stripe', credentials: { apiKey: `sk_test_${randomUUID().replaceAll('-', '')}` } }),
    })
    const connection = (await created.json()) as { id: string }
    if (created.status !== 201) throw new Error(`connection not created: ${JSON.stringify(connection)}`)
    const url = `${gateway}/api/v1/integrations/connections/${connection.id}`
    const closedLoop = async (connections: number, duration: number) => figuresOf(`${connections} connections`, await autocannon({ url, headers, connections, duration }))
    await closedLoop(50, 2)
    // A p99 means nothing without the load it was taken at, so three readings: one client alone
    // (what the path costs), 50 clients sending back to back (capacity; latency there is
    // queueing, 50 ÷ throughput) and 50 clients at steady rates below capacity (the SLO reading).
    const single = await closedLoop(1, Math.max(2, DURATION / 2))
    const capacity = await closedLoop(50, DURATION)
    const steady: SteadyLoadResult[] = []
    for (const rate of STEADY_RATES.filter((r) => r < capacity.rps)) {
      const result = await steadyLoad({ url, headers, connections: 50, rate, seconds: DURATION })
      if (result.failures > 0) throw new Error(`${result.failures} failed requests at ${rate} req/s`)
      steady.push(result)
    }
    const meets = steady.filter((result) => result.p99 < 10).map((result) => result.offered)
    console.log(`\nbench/secrets — GET a connection through the gateway (JWT, rate limit, proxy, RLS read, masked view), ${DURATION} s per reading`)
    console.log(`  1 connection, back to back     ${fmt(single.rps).padStart(6)} req/s   p50 ${fmt(single.p50, 1)} ms   p99 ${fmt(single.p99, 1)} ms`)
    console.log(`  50 connections, back to back   ${fmt(capacity.rps).padStart(6)} req/s   p50 ${fmt(capacity.p50, 1)} ms   p99 ${fmt(capacity.p99, 1)} ms   (capacity)`)
    for (const result of steady) {
      console.log(`  50 connections, steady         ${fmt(result.achieved).padStart(6)} req/s   p50 ${fmt(result.p50, 1)} ms   p99 ${fmt(result.p99, 1)} ms   max ${fmt(result.max, 1)} ms`)
    }
    console.log(`  target p99 < 10 ms at 50 connections: ${meets.length > 0 ? `met at ${meets.join(', ')} req/s` : 'not met at any steady rate tried'}`)
    return { single, capacity, steady }
  } finally {
    await stopAll(children)
    await sim.close()
    await db.drop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
