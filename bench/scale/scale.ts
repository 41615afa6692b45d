// Scale in numbers: N venues with a connection each and M synced records seeded straight into
// Postgres (generate_series, in chunks, progress printed), then
//  - p99 of the two list endpoints a tenant pages through (records changed since a cursor, with
//    provider and entity filters; sync logs newest first, by status), through two API replicas,
//    each first page followed by its cursors, beside the database's own time for the same query;
//  - table and index sizes;
//  - a full sync and a full re-sync (data unchanged) of one large connection, among the M records;
//  - then two API replicas and three workers sharing Redis and Postgres: a batch of syncs enqueued
//    through both replicas, worked by one worker and then by three (throughput side by side),
//    with proof that no job ran twice (the simulator counts each account's list requests: exactly
//    one listing per run) and each run wrote its records once.
//
//   npx tsx bench/scale/scale.ts                 defaults: 1,000 venues, 5,000,000 records
//   BENCH_SCALE=short npx tsx bench/scale/scale.ts   smoke run: 50 venues, 200,000 records
//   BENCH_VENUES, BENCH_RECORDS, BENCH_LARGE (records of the large connection), BENCH_JOBS (syncs
//   per batch), BENCH_JOB_RECORDS (records per sync), BENCH_QUERIES (first pages per endpoint)
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { Pool } from 'undici'
import { createDatabase, createFastify, createKnex, mintDevToken, systemRoleOf, type Database } from '@hub/service-kit'
import { createTestDatabase, deleteRedisPrefix, explained, queriesSentBy } from '@hub/service-kit/testing'
import { createStripeSimulator } from '../../packages/provider-simulators/src/stripe/index.ts'
import integrationService from '../../services/integration-service/src/app.ts'
import { loadConfig } from '../../services/integration-service/src/config.ts'
import { INTEGRATION_SCHEMA } from '../../services/integration-service/src/db/schema.ts'
import { createRecordRepository } from '../../services/integration-service/src/plugins/app/sync/record-repository.ts'
import { createSyncLogRepository } from '../../services/integration-service/src/plugins/app/sync-logs/sync-log-repository.ts'
import { benchEnv, fmt, freePort, integrationEnv, startService, spawnWorker, stopAll, waitFor } from '../support.ts'

const SHORT = process.env.BENCH_SCALE === 'short'
const num = (name: string, full: number, short: number) => Number(process.env[name] ?? (SHORT ? short : full))
const VENUES = num('BENCH_VENUES', 1_000, 50)
const RECORDS = num('BENCH_RECORDS', 5_000_000, 200_000)
const LARGE = num('BENCH_LARGE', 100_000, 10_000)
const JOBS = num('BENCH_JOBS', 30, 12)
const JOB_RECORDS = num('BENCH_JOB_RECORDS', 5_000, 1_000)
const QUERIES = num('BENCH_QUERIES', 200, 40)
const LOGS_PER_CONNECTION = num('BENCH_LOGS_PER_CONNECTION', 50, 20)
const VENUES_PER_TENANT = 10
const CHUNK = 250_000
const PAGE_SIZE = 100
const TARGET_P99_MS = 100
/** Three workers must do at least this much more than one to count as scaling (runs on one box differ by ±10 %). */
const SCALING_AIM = 1.5

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
}

export async function run(log: (line: string) => void = console.log) {
  const created = await createTestDatabase([INTEGRATION_SCHEMA])
  // adminQuery binds positionally (each $n becomes ?): repeat the values a statement reuses.
  const db = {
    ...created,
    adminQuery: <T>(sql: string, params: unknown[] = []) => {
      const ordered: unknown[] = []
      const text = sql.replace(/\$(\d+)/g, (_match, n: string) => {
        ordered.push(params[Number(n) - 1])
        return `$${ordered.length}`
      })
      return created.adminQuery<T>(text, ordered)
    },
  }
  const common = benchEnv()
  const listRequests = new Map<string, number>()
  const sim = createStripeSimulator({ recordsPerEntity: 0, seed: 'bench-scale' })
  sim.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/v1/customers')) return
    const key = String(request.headers.authorization ?? '').replace(/^Bearer\s+/i, '')
    listRequests.set(key, (listRequests.get(key) ?? 0) + 1)
  })
  await sim.listen({ port: 0, host: '127.0.0.1' })
  const stripeBase = `http://127.0.0.1:${(sim.server.address() as { port: number }).port}`
  const env = integrationEnv(common, db.urlFor(INTEGRATION_SCHEMA.appRole), {
    STRIPE_API_BASE: stripeBase,
    // The provider budget is not what this bench measures.
    SYNC_RATE_LIMIT_STRIPE: '100000/1s',
  })
  const setup = createFastify({ service: 'integration-service', logLevel: 'warn' })
  await setup.register(integrationService, { config: loadConfig(env) })
  await setup.ready()
  const children: ReturnType<typeof startService>[] = []
  const startApi = async () => {
    const port = await freePort()
    children.push(startService('services/integration-service/src/server.ts', { ...env, INTEGRATION_SERVICE_PORT: String(port) }))
    await waitFor(`http://127.0.0.1:${port}/ready`, 180_000)
    return `http://127.0.0.1:${port}`
  }
  const startWorker = async () => {
    const port = await freePort()
    const child = spawnWorker({ ...env, INTEGRATION_WORKER_PORT: String(port) })
    children.push(child)
    await waitFor(`http://127.0.0.1:${port}/ready`, 180_000)
    return child
  }

  /** A Stripe connection whose account holds `count` customers, usable by the worker. */
  const liveConnection = async (tenantId: string, venueId: string, count: number) => {
    const apiKey = `sk_test_${randomUUID().replaceAll('-', '')}`
    const accountId = ((await (await fetch(`${stripeBase}/_sim/accounts/lookup?credential=${apiKey}`)).json()) as { accountId: string }).accountId
    if (count > 0) await fetch(`${stripeBase}/_sim/accounts/${accountId}/seed`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ entity: 'customer', count }) })
    const id = randomUUID()
    await setup.db.withTenant(tenantId, async (trx) => {
      await setup.connections.insert(trx, { id, tenantId, venueId, provider: 'stripe', authType: 'api_key', createdBy: 'bench', sealed: setup.vault.seal(tenantId, id, { apiKey }) })
      await setup.connections.update(trx, id, { status: 'active', accountId })
    })
    return { id, tenantId, venueId, apiKey }
  }

  const waitForLogs = async (ids: string[], label: string) => {
    let lastReport = 0
    for (;;) {
      const rows = await db.adminQuery<{ status: string; fetched: number }>('select status, records_fetched as fetched from integration.sync_logs where id = any($1::uuid[])', [ids])
      if (rows.length === ids.length && rows.every((row) => ['succeeded', 'partial', 'failed', 'cancelled'].includes(row.status))) {
        const bad = rows.filter((row) => row.status !== 'succeeded')
        if (bad.length > 0) throw new Error(`${label}: ${bad.length} runs ended ${bad.map((row) => row.status).join(', ')}`)
        return
      }
      if (Date.now() - lastReport > 3_000) {
        lastReport = Date.now()
        log(`  ${label}: ${rows.filter((row) => row.status === 'succeeded').length} of ${ids.length} runs done, ${fmt(rows.reduce((sum, row) => sum + Number(row.fetched), 0))} records fetched`)
      }
      await sleep(100)
    }
  }
  const wallOf = async (ids: string[]) => {
    const rows = await db.adminQuery<{ from: Date; to: Date; fetched: string }>('select min(created_at) as from, max(finished_at) as to, sum(records_fetched) as fetched from integration.sync_logs where id = any($1::uuid[])', [ids])
    const row = rows[0] as { from: Date; to: Date; fetched: string }
    const seconds = (row.to.getTime() - row.from.getTime()) / 1000
    return { seconds, records: Number(row.fetched), rate: Number(row.fetched) / seconds }
  }

  try {
    // --- Seeding ---------------------------------------------------------------------------
    const tenants = Array.from({ length: Math.ceil(VENUES / VENUES_PER_TENANT) }, () => randomUUID())
    const venues = Array.from({ length: VENUES }, (_, i) => ({ id: randomUUID(), tenantId: tenants[Math.floor(i / VENUES_PER_TENANT)] as string }))
    log(`seeding ${fmt(VENUES)} venues (${tenants.length} tenants) with a Stripe connection each`)
    const connectionIds = venues.map(() => randomUUID())
    await db.adminQuery(
      `insert into integration.connections (id, tenant_id, venue_id, provider, auth_type, status, account_id, created_by)
       select c, t, v, 'stripe', 'api_key', 'active', 'acct_seed_' || i, 'bench'
         from unnest($1::uuid[], $2::uuid[], $3::uuid[]) with ordinality as x(c, t, v, i)`,
      [connectionIds, venues.map((v) => v.tenantId), venues.map((v) => v.id)],
    )
    const seedStarted = performance.now()
    for (let from = 0; from < RECORDS; from += CHUNK) {
      const to = Math.min(RECORDS, from + CHUNK) - 1
      await db.adminQuery(
        `insert into integration.records (connection_id, entity, external_id, tenant_id, venue_id, provider, data, raw, content_hash, source_version, updated_at)
         select ($3::uuid[])[g % $6 + 1], case when g % 5 = 0 then 'payment' else 'customer' end, 'ext_' || g, ($4::uuid[])[g % $6 + 1], ($5::uuid[])[g % $6 + 1], 'stripe',
                jsonb_build_object('email', 'c' || g || '@example.org', 'givenName', 'Given' || g, 'familyName', 'Family', 'phone', null, 'companyName', null, 'createdAt', '2026-01-01T00:00:00.000Z'),
                jsonb_build_object('id', 'ext_' || g, 'object', 'customer'), md5(g::text), now(), now() - (g || ' seconds')::interval
           from generate_series($1::bigint, $2::bigint) g`,
        [from, to, connectionIds, venues.map((v) => v.tenantId), venues.map((v) => v.id), VENUES],
      )
      const done = to + 1
      log(`  records: ${fmt(done)} of ${fmt(RECORDS)} (${fmt(done / ((performance.now() - seedStarted) / 1000))} rows/s)`)
    }
    await db.adminQuery(
      `insert into integration.sync_logs (tenant_id, venue_id, connection_id, provider, entity, mode, trigger, queue, status, started_at, finished_at, records_fetched, created_at)
       select ($2::uuid[])[g % $4 + 1], ($3::uuid[])[g % $4 + 1], ($1::uuid[])[g % $4 + 1], 'stripe', 'customer', case when g % 10 = 0 then 'full' else 'incremental' end,
              'scheduled', 'integration-normal', case when g % 17 = 0 then 'failed' else 'succeeded' end, now() - (g || ' minutes')::interval, now() - (g || ' minutes')::interval, g % 1000,
              now() - (g || ' minutes')::interval
         from generate_series(0, $5::int - 1) g`,
      [connectionIds, venues.map((v) => v.tenantId), venues.map((v) => v.id), VENUES, VENUES * LOGS_PER_CONNECTION],
    )
    log(`  sync logs: ${fmt(VENUES * LOGS_PER_CONNECTION)}; analysing`)
    await db.adminQuery('analyze integration.records')
    await db.adminQuery('analyze integration.sync_logs')

    // --- Queries through two API replicas --------------------------------------------------
    const apis = [await startApi(), await startApi()]
    const tenantId = tenants[0] as string
    const token = mintDevToken({ secret: common.JWT_SECRET ?? '', issuer: common.JWT_ISSUER ?? '', audience: common.JWT_AUDIENCE ?? '', tenantId, roles: ['admin'], expiresIn: 3600 })
    const headers = { authorization: `Bearer ${token}` }
    const tenantVenues = venues.filter((v) => v.tenantId === tenantId)
    const pools = apis.map((api) => new Pool(api, { connections: 4 }))
    const timed = async (i: number, path: string): Promise<{ ms: number; body: { data: unknown[]; nextCursor: string | null } }> => {
      const started = performance.now()
      const response = await (pools[i % pools.length] as Pool).request({ method: 'GET', path, headers })
      const body = (await response.body.json()) as { data: unknown[]; nextCursor: string | null }
      if (response.statusCode !== 200) throw new Error(`${path}: ${response.statusCode} ${JSON.stringify(body)}`)
      return { ms: performance.now() - started, body }
    }
    /** First pages (random venue or status), each followed by up to three cursors; 4 at a time. */
    const pageThrough = async (first: (i: number) => string, withCursor: (i: number, cursor: string) => string) => {
      const latencies: number[] = []
      let next = 0
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < QUERIES) {
            const i = next++
            let page = await timed(i, first(i))
            latencies.push(page.ms)
            for (let hop = 0; hop < 3 && page.body.nextCursor; hop++) {
              page = await timed(i + hop + 1, withCursor(i, page.body.nextCursor))
              latencies.push(page.ms)
            }
          }
        }),
      )
      return { requests: latencies.length, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) }
    }
    const venueOf = (i: number) => (tenantVenues[i % tenantVenues.length] as { id: string }).id
    const recordsPath = (i: number) => `/api/v1/integrations/records?venueId=${venueOf(i)}&provider=stripe&entity=customer&limit=100`
    const logsPath = (i: number) => `/api/v1/integrations/sync-logs?status=${i % 2 === 0 ? 'succeeded' : 'failed'}&limit=50`
    await pageThrough(recordsPath, (i, c) => `${recordsPath(i)}&cursor=${encodeURIComponent(c)}`) // warm-up
    const recordsList = await pageThrough(recordsPath, (i, c) => `${recordsPath(i)}&cursor=${encodeURIComponent(c)}`)
    const logsList = await pageThrough(logsPath, (i, c) => `${logsPath(i)}&cursor=${encodeURIComponent(c)}`)
    await Promise.all(pools.map((pool) => pool.close()))
    // The database's own time for each list's first page: the repository's own SQL (captured from
    // knex), run as the service's role in the tenant's transaction, so row-level security is in it
    // as it is in the API; and the rows of the table it read, against the rows the tenant has.
    const appKnex = createKnex(db.urlFor(INTEGRATION_SCHEMA.appRole), { poolMax: 1 })
    const asService = createDatabase(appKnex, { systemRole: systemRoleOf(INTEGRATION_SCHEMA.appRole) })
    const tenantCount = async (sql: string) => Number((await db.adminQuery<{ n: string }>(sql, [tenantId]))[0]?.n)
    type TenantTransaction = Parameters<Parameters<Database['withTenant']>[1]>[0]
    const firstPageCost = (table: string, list: (trx: TenantTransaction) => Promise<unknown>) =>
      asService.withTenant(tenantId, async (trx) => {
        const { queries } = await queriesSentBy(appKnex, () => list(trx))
        const query = queries.find((q) => q.sql.includes(`"integration"."${table}"`))
        if (!query) throw new Error(`no query of ${table} was sent`)
        return explained(trx, query.sql, query.bindings, table)
      })
    // venueOf(1): the seed gives every fifth venue (venueOf(0) among them) payments only.
    const recordsCost = await firstPageCost('records', (trx) => createRecordRepository().listChanges(trx, { venueId: venueOf(1), provider: 'stripe', entity: 'customer', after: { xid: '0', seq: '0' }, includeRaw: false, limit: 100 }))
    const logsCost = await firstPageCost('sync_logs', (trx) => createSyncLogRepository().list(trx, { status: 'failed', limit: 51 }))
    await appKnex.destroy()
    const tenantRecords = await tenantCount('select count(*) as n from integration.records where tenant_id = $1')
    const tenantLogs = await tenantCount('select count(*) as n from integration.sync_logs where tenant_id = $1')

    const sizes = await db.adminQuery<{ name: string; rows: string; table: string; indexes: string }>(
      `select c.relname as name, c.reltuples::bigint as rows, pg_size_pretty(pg_table_size(c.oid)) as table, pg_size_pretty(pg_indexes_size(c.oid)) as indexes
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'integration' and c.relkind = 'r' and c.relname in ('records', 'sync_logs', 'connections', 'sync_run_seen', 'webhook_inbox')
        order by pg_total_relation_size(c.oid) desc`,
    )

    // --- One large connection: full sync, then a full re-sync over unchanged data ------------
    await startWorker()
    const large = await liveConnection(tenantId, randomUUID(), LARGE)
    const fullOf = async (c: { id: string; tenantId: string; venueId: string }) =>
      (await setup.syncEngine.enqueueSync({ tenantId: c.tenantId, venueId: c.venueId, connectionId: c.id, entities: ['customer'], mode: 'full', trigger: 'batch', queue: 'high' })).jobs[0]?.syncLogId as string
    const first = await fullOf(large)
    await waitForLogs([first], 'large connection, first full sync')
    const firstRun = await wallOf([first])
    const again = await fullOf(large)
    await waitForLogs([again], 'large connection, full re-sync')
    const resync = await wallOf([again])

    // --- Two API replicas, one worker then three --------------------------------------------
    const batch = async (label: string) => {
      const connections = []
      for (let i = 0; i < JOBS; i++) connections.push(await liveConnection(tenants[i % tenants.length] as string, randomUUID(), JOB_RECORDS))
      const ids: string[] = []
      for (const [i, c] of connections.entries()) {
        const tokenFor = mintDevToken({ secret: common.JWT_SECRET ?? '', issuer: common.JWT_ISSUER ?? '', audience: common.JWT_AUDIENCE ?? '', tenantId: c.tenantId, roles: ['admin'], expiresIn: 3600 })
        const response = await fetch(`${apis[i % apis.length]}/api/v1/integrations/sync/stripe/sync`, {
          method: 'POST',
          headers: { authorization: `Bearer ${tokenFor}`, 'content-type': 'application/json' },
          body: JSON.stringify({ venueId: c.venueId, entities: ['customer'], mode: 'full' }),
        })
        const body = (await response.json()) as { jobs: Array<{ syncLogId: string }> }
        if (response.status !== 202) throw new Error(`enqueue: ${response.status} ${JSON.stringify(body)}`)
        ids.push(...body.jobs.map((job) => job.syncLogId))
      }
      await waitForLogs(ids, label)
      const pages = Math.max(1, Math.ceil(JOB_RECORDS / PAGE_SIZE))
      const listings = connections.map((c) => listRequests.get(c.apiKey) ?? 0)
      const [written] = await db.adminQuery<{ runs: string; exact: string }>(`select count(*) as runs, count(*) filter (where records_fetched = $2 and records_created = $2) as exact from integration.sync_logs where id = any($1::uuid[])`, [
        ids,
        JOB_RECORDS,
      ])
      return { ...(await wallOf(ids)), once: listings.every((n) => n === pages) && Number(written?.exact) === JOBS, listings: [Math.min(...listings), Math.max(...listings)], pages }
    }
    const oneWorker = await batch('one worker')
    await Promise.all([startWorker(), startWorker()])
    const threeWorkers = await batch('three workers')

    const ok = (pass: boolean) => (pass ? 'ok' : 'MISSED')
    console.log(`
bench/scale — ${fmt(VENUES)} venues (${tenants.length} tenants), ${fmt(RECORDS)} records, ${fmt(VENUES * LOGS_PER_CONNECTION)} sync logs; two API replicas
  records list (venue, provider and entity filters, 100 a page, first page then 3 cursors)   ${fmt(recordsList.requests)} requests: p50 ${fmt(recordsList.p50, 1)} ms, p99 ${fmt(recordsList.p99, 1)} ms   [aim p99 < ${TARGET_P99_MS} ms: ${ok(recordsList.p99 < TARGET_P99_MS)}; limit: Postgres alone runs the first page in ${fmt(recordsCost.executionMs, 2)} ms, reading ${fmt(recordsCost.rowsRead)} rows of the tenant's ${fmt(tenantRecords)}]
  sync-log list (status filter, newest first, 50 a page, then 3 cursors)                      ${fmt(logsList.requests)} requests: p50 ${fmt(logsList.p50, 1)} ms, p99 ${fmt(logsList.p99, 1)} ms   [aim p99 < ${TARGET_P99_MS} ms: ${ok(logsList.p99 < TARGET_P99_MS)}; limit: Postgres alone runs the first page in ${fmt(logsCost.executionMs, 2)} ms, reading ${fmt(logsCost.rowsRead)} rows of the tenant's ${fmt(tenantLogs)}]
  sizes: ${sizes.map((s) => `${s.name} ${fmt(Number(s.rows))} rows, table ${s.table}, indexes ${s.indexes}`).join('; ')}
  one large connection (${fmt(LARGE)} customers) among them: first full sync ${firstRun.seconds.toFixed(1)} s (${fmt(firstRun.rate)}/s), full re-sync over unchanged data ${resync.seconds.toFixed(1)} s (${fmt(resync.rate)}/s)
  ${JOBS} syncs of ${fmt(JOB_RECORDS)} records enqueued through both replicas:
    one worker     ${fmt(oneWorker.rate)} records/s (${oneWorker.seconds.toFixed(1)} s)   no job twice: ${ok(oneWorker.once)} (list requests per account ${oneWorker.listings.join('–')}, one listing = ${oneWorker.pages})
    three workers  ${fmt(threeWorkers.rate)} records/s (${threeWorkers.seconds.toFixed(1)} s) = ${(threeWorkers.rate / oneWorker.rate).toFixed(2)}× one worker   no job twice: ${ok(threeWorkers.once)} (${threeWorkers.listings.join('–')})   [aim ≥ ${SCALING_AIM}× one worker: ${ok(threeWorkers.rate >= SCALING_AIM * oneWorker.rate)}; limit: the host's cores, shared with Postgres, Redis, the replicas and this script]`)
    return { recordsList, logsList, sizes, firstRun, resync, oneWorker, threeWorkers }
  } finally {
    await stopAll(children)
    await setup.close()
    await sim.close()
    await db.drop()
    await deleteRedisPrefix(common.REDIS_KEY_PREFIX ?? '')
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await run()
