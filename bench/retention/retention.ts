// bench/retention: the integration-worker's retention clean-up purging a million records of a
// connection disconnected past its period, while integration-service's API is read at a steady
// open-loop rate (GET /api/v1/integrations/records of a live venue: the same table). p99 without
// the purge, then with it, side by side in one run. Target: p99 during the purge at most 20 %
// above p99 without it.
//
// The API runs as its own process (as deployed); the clean-up runs here, in a worker instance
// built like the integration-worker's, with compliance-service's answer stubbed (defaults, no
// holds): what is measured is the database work and its effect on the API.
//
//   npm run bench retention                                      (1,000,000 rows, 25 s windows after 10 s of warm-up)
//   BENCH_RETENTION_ROWS=20000 BENCH_SECONDS=3 npm run bench retention      (smoke)
import { randomUUID } from 'node:crypto'
import { mintDevToken, createFastify } from '@hub/service-kit'
import { createTestDatabase } from '@hub/service-kit/testing'
import { RETENTION_DEFAULT_DAYS, type RetentionPlan } from '@hub/contracts'
import { INTEGRATION_SCHEMA } from '../../services/integration-service/src/db/schema.ts'
import { loadConfig } from '../../services/integration-service/src/config.ts'
import integrationWorker from '../../services/integration-service/src/worker-app.ts'
import { benchEnv, fmt, freePort, integrationEnv, startService, steadyLoad, stopAll, waitFor } from '../support.ts'

const ROWS = Number(process.env.BENCH_RETENTION_ROWS ?? 1_000_000)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 25)
const RATE = Number(process.env.BENCH_RATE ?? 200)
const BATCH = Number(process.env.BENCH_RETENTION_BATCH ?? 1_000)
const PAUSE_MS = Number(process.env.BENCH_RETENTION_PAUSE_MS ?? 50)
const TARGET_INCREASE = 0.2
const SEED_CHUNK = 100_000
const DAY = 86_400_000

const db = await createTestDatabase([INTEGRATION_SCHEMA])
const common = benchEnv()
const env = integrationEnv(common, db.urlFor(INTEGRATION_SCHEMA.appRole))
const tenantId = randomUUID()
const liveVenue = randomUUID()
const live = randomUUID()
const expired = randomUUID()

console.log(`seeding ${fmt(ROWS)} expired records and 1,000 live ones…`)
await db.adminQuery(
  `insert into integration.connections (id, tenant_id, venue_id, provider, auth_type, status, created_by, disconnected_at) values
   ($1, $2, $3, 'stripe', 'api_key', 'active', 'bench', null), ($4, $5, $6, 'stripe', 'api_key', 'disconnected', 'bench', $7)`,
  [live, tenantId, liveVenue, expired, tenantId, randomUUID(), new Date(Date.now() - 400 * DAY).toISOString()],
)
const seedRecords = (connectionId: string, venueId: string, from: number, to: number) =>
  db.adminQuery(
    `insert into integration.records (connection_id, entity, external_id, tenant_id, venue_id, provider, data, raw, content_hash)
     select $1, 'customer', 'cus_' || g, $2, $3, 'stripe', jsonb_build_object('name', 'Customer ' || g, 'email', 'c' || g || '@example.com'), '{}'::jsonb, md5(g::text) from generate_series($4::int, $5::int) g`,
    [connectionId, tenantId, venueId, from, to],
  )
await seedRecords(live, liveVenue, 1, 1_000)
for (let from = 1; from <= ROWS; from += SEED_CHUNK) {
  await seedRecords(expired, randomUUID(), from, Math.min(ROWS, from + SEED_CHUNK - 1))
  process.stdout.write(`  ${fmt(Math.min(ROWS, from + SEED_CHUNK - 1))} / ${fmt(ROWS)}\r`)
}
console.log('')
// A settled database for both windows: without this, the writes of seeding (autovacuum's first
// pass over a million new rows, a checkpoint flushing them) land in whichever window they happen
// to overlap, usually the first.
await db.adminQuery('vacuum (analyze) integration.records')
await db.adminQuery('checkpoint')

const port = await freePort()
const api = startService('services/integration-service/src/server.ts', { ...env, INTEGRATION_SERVICE_PORT: String(port) })
const plan = async (tenantIds: string[]): Promise<RetentionPlan> => ({
  generatedAt: new Date().toISOString(),
  data: tenantIds.map((id) => ({ tenantId: id, policyVersion: 0, periods: { ...RETENTION_DEFAULT_DAYS }, tenantHeld: false, heldVenueIds: [], heldConnectionIds: [] })),
})
const worker = createFastify({ service: 'integration-worker', logLevel: 'warn' })
try {
  await worker.register(integrationWorker, { config: loadConfig({ ...env, RETENTION_BATCH_SIZE: String(BATCH), RETENTION_BATCH_PAUSE_MS: String(PAUSE_MS) }), retentionPlan: plan })
  await worker.ready()
  await waitFor(`http://127.0.0.1:${port}/ready`)
  const token = mintDevToken({ secret: common.JWT_SECRET ?? '', issuer: 'bench', audience: 'venue-hub', tenantId, roles: ['admin'], expiresIn: 3600 })
  const load = () => steadyLoad({ url: `http://127.0.0.1:${port}/api/v1/integrations/records?venueId=${liveVenue}&limit=100`, headers: { authorization: `Bearer ${token}` }, connections: 20, rate: RATE, seconds: SECONDS, warmupSeconds: 10 })

  const without = await load()
  const started = performance.now()
  let purgeDone = 0
  const purge = worker.retention.run().then((result) => {
    purgeDone = performance.now()
    return result
  })
  const during = await load()
  const stillPurging = purgeDone === 0
  const result = await purge
  const purgeSeconds = (purgeDone - started) / 1000
  if (result.purged.records !== ROWS) throw new Error(`purged ${result.purged.records} records, expected ${ROWS}`)
  if (without.failures > 0 || during.failures > 0) throw new Error(`failed requests: ${without.failures} without, ${during.failures} during`)

  const limit = without.p99 * (1 + TARGET_INCREASE)
  const row = (label: string, r: typeof without) =>
    `  ${label.padEnd(16)} ${fmt(r.achieved).padStart(6)} req/s of ${fmt(r.offered)}   p50 ${fmt(r.p50, 1).padStart(6)} ms   p99 ${fmt(r.p99, 1).padStart(6)} ms   max ${fmt(r.max, 1).padStart(7)} ms`
  console.log(`\nretention purge vs API reads (GET /records, open loop ${fmt(RATE)} req/s, ${SECONDS} s windows, batches of ${fmt(BATCH)} with ${PAUSE_MS} ms pauses)`)
  console.log(row('without purge', without))
  console.log(row('during purge', during))
  console.log(
    `  purge: ${fmt(result.purged.records)} records in ${fmt(purgeSeconds, 1)} s (${fmt(result.purged.records / purgeSeconds)} rows/s)${stillPurging ? '; the whole "during" window ran while it purged' : '; note: it finished before the window ended'}`,
  )
  const increase = (during.p99 / without.p99 - 1) * 100
  console.log(`  p99 during purge ${fmt(during.p99, 1)} ms vs limit ${fmt(limit, 1)} ms (target ≤ +${TARGET_INCREASE * 100} %): ${increase >= 0 ? '+' : ''}${fmt(increase, 1)} % → ${during.p99 <= limit ? 'PASS' : 'MISS'}`)
} finally {
  await worker.close()
  await stopAll([api])
  await db.drop()
}
