// bench/redis-outage: what clients see while Redis is down. The gateway and venue-service run as
// their own processes, integration-service in this one (the bench seals connections through it);
// all three reach Redis through a TCP proxy this script cuts, so the shared Redis server is never
// stopped. At a steady open-loop rate it measures the gateway's p99 for GET /api/v1/venues/:id
// with Redis up, then with the proxy cut, and the latency of POST sync requests while it is cut
// (each answered 202: the run stored in Postgres for the reconciler).
//
//   npx tsx bench/redis-outage/redis-outage.ts
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { connect, createServer, type Socket } from 'node:net'
import { createFastify } from '@hub/service-kit'
import { createTestDatabase, deleteRedisPrefix, listenLocal, testToken } from '@hub/service-kit/testing'
import integrationService from '../../services/integration-service/src/app.ts'
import { loadConfig } from '../../services/integration-service/src/config.ts'
import { INTEGRATION_SCHEMA } from '../../services/integration-service/src/db/schema.ts'
import { VENUE_SCHEMA } from '../../services/venue-service/src/db/schema.ts'
import { fmt, freePort, integrationEnv, startService, steadyLoad, stopAll, testIdentityEnv, waitFor } from '../support.ts'

const RATE = Number(process.env.BENCH_RATE ?? 100)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const SYNC_REQUESTS = 10
const REDIS = { host: '127.0.0.1', port: 6379 }

/** A TCP proxy to Redis that can be cut (listener closed, every connection reset) and restored. */
async function redisProxy(): Promise<{ url: string; cut: () => Promise<void>; restore: () => Promise<void>; close: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(REDIS.port, REDIS.host)
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => {
        client.destroy()
        upstream.destroy()
      })
    }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as { port: number }).port
  const cut = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    for (const socket of sockets) socket.resetAndDestroy()
    await closed
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    cut,
    restore: async () => {
      server.listen(port, '127.0.0.1')
      await once(server, 'listening')
    },
    close: async () => {
      if (server.listening) await cut()
    },
  }
}

export async function run() {
  const db = await createTestDatabase([VENUE_SCHEMA, INTEGRATION_SCHEMA])
  const prefix = `hubbench:${randomUUID().slice(0, 8)}:`
  const proxy = await redisProxy()
  const common = { ...testIdentityEnv(prefix), LOG_LEVEL: 'error', REDIS_URL: proxy.url, METRICS_PORT: '0' }
  const integration = createFastify({ service: 'integration-service', logLevel: 'error', trustProxy: ['loopback'] })
  await integration.register(integrationService, {
    config: loadConfig(integrationEnv(common, db.urlFor(INTEGRATION_SCHEMA.appRole), { MAX_EVENT_LOOP_DELAY_MS: '0', AUDIT_RELAY_INTERVAL_MS: '0', STRIPE_API_BASE: 'http://127.0.0.1:9' })),
  })
  const integrationUrl = await listenLocal(integration)
  const [venuePort, gatewayPort] = [await freePort(), await freePort()]
  const children = [
    startService('services/venue-service/src/server.ts', { ...common, DATABASE_URL: db.urlFor(VENUE_SCHEMA.appRole), VENUE_SERVICE_PORT: String(venuePort) }),
    startService('services/api-gateway/src/server.ts', {
      ...common,
      API_GATEWAY_PORT: String(gatewayPort),
      VENUE_SERVICE_URL: `http://127.0.0.1:${venuePort}`,
      INTEGRATION_SERVICE_URL: integrationUrl,
      COMPLIANCE_SERVICE_URL: 'http://127.0.0.1:9',
      // Rate limiting stays on (its Redis round trip, or its in-memory fallback, is part of the cost) but never trips.
      RATE_LIMIT_USER_MAX: '1000000000',
      // The load generator is one client on 50 connections: a stall must not turn into 429s.
      MAX_IN_FLIGHT_PER_CLIENT: '10000',
    }),
  ]
  try {
    await waitFor(`http://127.0.0.1:${venuePort}/ready`, 240_000)
    await waitFor(`http://127.0.0.1:${gatewayPort}/ready`, 240_000)
    const tenantId = randomUUID()
    const headers = { authorization: `Bearer ${testToken({ tenantId, roles: ['admin'], expiresIn: 3600 })}`, 'content-type': 'application/json' }
    const gateway = `http://127.0.0.1:${gatewayPort}`
    const created = await fetch(`${gateway}/api/v1/venues`, { method: 'POST', headers, body: JSON.stringify({ name: 'Bench Hall', timezone: 'UTC', currency: 'USD' }) })
    if (created.status !== 201) throw new Error(`creating the venue answered ${created.status}: ${await created.text()}`)
    const venue = (await created.json()) as { id: string }
    // One Stripe connection per sync request: a second request for a connection with a run
    // already queued is (rightly) refused while Redis cannot say whether that run is alive.
    const venueIds: string[] = []
    for (let i = 0; i < SYNC_REQUESTS; i++) {
      const venueId = randomUUID()
      const connectionId = randomUUID()
      await integration.db.withTenant(tenantId, async (trx) => {
        await integration.connections.insert(trx, {
          id: connectionId,
          tenantId,
          venueId,
          provider: 'stripe',
          authType: 'api_key',
          createdBy: 'bench',
          sealed: integration.vault.seal(tenantId, connectionId, { apiKey: `sk_test_${'B'.repeat(24)}` }),
        })
        await integration.connections.update(trx, connectionId, { status: 'active', accountId: `acct_${i}` })
      })
      venueIds.push(venueId)
    }
    const load = () => steadyLoad({ url: `${gateway}/api/v1/venues/${venue.id}`, headers, connections: 50, rate: RATE, seconds: SECONDS })

    const up = await load()
    await proxy.cut()
    // The outage is real only if the services see it: the gateway's readiness reports Redis down.
    const cutAt = performance.now()
    while ((await fetch(`${gateway}/ready`)).status === 200) {
      if (performance.now() - cutAt > 10_000) throw new Error('the gateway never noticed Redis was down')
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const noticedMs = performance.now() - cutAt
    // The sync requests go out during the Redis-down load, one every 700 ms.
    const syncs: Array<{ status: number; ms: number }> = []
    const syncing = (async () => {
      for (const venueId of venueIds) {
        await new Promise((resolve) => setTimeout(resolve, 700))
        const started = performance.now()
        const response = await fetch(`${gateway}/api/v1/integrations/sync/stripe/sync`, { method: 'POST', headers, body: JSON.stringify({ venueId, entities: ['customer'], mode: 'full' }) })
        await response.arrayBuffer()
        syncs.push({ status: response.status, ms: performance.now() - started })
      }
    })()
    const down = await load()
    await syncing
    await proxy.restore()

    const syncMs = syncs.map((s) => s.ms).sort((a, b) => a - b)
    const accepted = syncs.filter((s) => s.status === 202).length
    const syncMax = syncMs.at(-1) ?? 0
    const ok = (pass: boolean) => (pass ? 'ok' : 'MISSED')
    console.log(`\nbench/redis-outage — GET /api/v1/venues/:id through the gateway, steady ${RATE} req/s over 50 keep-alive connections, ${SECONDS} s each (after 2 s warm-up at the same rate)`)
    console.log(`  proxy to Redis cut: the gateway's /ready failed after ${fmt(noticedMs)} ms`)
    for (const [label, r] of [
      ['Redis up', up],
      ['Redis down (proxy cut)', down],
    ] as const) {
      console.log(`  ${label.padEnd(24)} achieved ${fmt(r.achieved)} req/s   p50 ${fmt(r.p50, 1)} ms   p99 ${fmt(r.p99, 1)} ms   max ${fmt(r.max, 1)} ms   non-2xx/errors ${r.failures}`)
    }
    // The reference is the same run with Redis up: on a shared box the tail is the box's, and a
    // Redis outage should not add to it. Before issue 12 every request waited on Redis (p50 2.4 s).
    console.log(
      `  gateway p99 with Redis down ${fmt(down.p99, 1)} ms vs ${fmt(up.p99, 1)} ms up, ${down.failures} failed   [target < 100 ms: ${ok(down.p99 < 100 && down.failures === 0)}; no worse than up: ${ok(down.p99 <= up.p99 * 1.2 && down.failures === 0)}; before issue 12: p50 2.4 s, max 6 s]`,
    )
    console.log(
      `  POST sync while down: ${accepted}/${syncs.length} answered 202, latency min ${fmt(syncMs[0] ?? 0, 1)} ms, median ${fmt(syncMs[Math.floor(syncMs.length / 2)] ?? 0, 1)} ms, max ${fmt(syncMax, 1)} ms   [target: every one 202 within 1,000 ms: ${ok(syncMax < 1_000 && accepted === syncs.length)}; before issue 12: 12.8 s, then 504]`,
    )
    return { up, down, syncs }
  } finally {
    await stopAll(children)
    await integration.close()
    await proxy.close()
    await db.drop()
    await deleteRedisPrefix(prefix)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
