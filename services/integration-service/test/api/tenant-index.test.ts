// sync_logs and connections have a system policy beside the tenant's. Were both the service role's,
// Postgres would OR them, no index could find one tenant's rows, and a tenant's list would read
// every tenant's.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import type { ServiceInstance } from '@hub/service-kit'
import { bearer, queriesSentBy, rowsRead, testToken, type SentQuery } from '@hub/service-kit/testing'
import { setupRig } from '../connections/rig.ts'

const rig = await setupRig()
/** Rows of the tenant in each table; 20,000 more belong to 200 other tenants. */
const OWN = 40
/** Seed row g: the tenant's for the first OWN, otherwise one of 200 other tenants'. */
const tenantOf = `case when g <= ${OWN} then $1::uuid else md5('other-tenant-' || (g % 200))::uuid end`
const asAdmin = (tenantId: string) => bearer(testToken({ tenantId, roles: ['admin'] }))

/** Each of `queries` (as sent), run again under EXPLAIN ANALYZE in the tenant's transaction, read no more rows of `table` than the tenant has. */
async function assertReadOnlyOwnRows(app: ServiceInstance, tenantId: string, queries: SentQuery[], table: string): Promise<void> {
  for (const query of queries) {
    const read = await app.db.withTenant(tenantId, (trx) => rowsRead(trx, query.sql, query.bindings, table))
    assert.ok(read <= OWN, `${query.sql} read ${read} rows of ${table}; the tenant has ${OWN}`)
  }
}

/** 20,000 active connections of `provider` for 200 other tenants and OWN for `tenant`, a venue each; returns one of the tenant's. */
async function seedConnections(tenant: string, provider: 'stripe' | 'square'): Promise<{ id: string; venue_id: string }> {
  await rig.db.adminQuery(
    `insert into integration.connections (tenant_id, venue_id, provider, auth_type, status, created_by)
     select ${tenantOf}, md5($2 || '-venue-' || g)::uuid, $3, 'api_key', 'active', 'seed'
       from generate_series(1, 20000 + ${OWN}) g`,
    [tenant, provider, provider],
  )
  await rig.db.adminQuery('analyze integration.connections')
  const [own] = await rig.db.adminQuery<{ id: string; venue_id: string }>('select id, venue_id from integration.connections where tenant_id = $1 and provider = $2 limit 1', [tenant, provider])
  assert.ok(own)
  return own
}

test("a tenant's sync-log list reads its own runs through the tenant's index, not every tenant's", async (t) => {
  const app = await rig.build()
  t.after(() => app.close())
  const tenant = randomUUID()
  // One run in four failed.
  await rig.db.adminQuery(
    `insert into integration.sync_logs (tenant_id, venue_id, connection_id, provider, entity, mode, trigger, queue, status, started_at, finished_at, created_at)
     select ${tenantOf}, md5('venue-' || (g % 400))::uuid, md5('connection-' || (g % 400))::uuid,
            'stripe', 'customer', 'incremental', 'scheduled', 'integration-normal', case when g % 4 = 0 then 'failed' else 'succeeded' end,
            now() - (g || ' minutes')::interval, now() - (g || ' minutes')::interval, now() - (g || ' minutes')::interval
       from generate_series(1, 20000 + ${OWN}) g`,
    [tenant],
  )
  await rig.db.adminQuery('analyze integration.sync_logs')

  const { result: listed, queries: sent } = await queriesSentBy(app.db.knex, () => app.inject({ url: '/api/v1/integrations/sync-logs?status=failed&limit=5', headers: asAdmin(tenant) }))
  assert.equal(listed.statusCode, 200, listed.body)
  assert.equal(listed.json().data.length, 5)
  assert.ok(listed.json().data.every((log: { status: string }) => log.status === 'failed'))

  const lists = sent.filter((query) => /^select \* from "integration"\."sync_logs"/.test(query.sql))
  assert.equal(lists.length, 1, 'the list query was sent')
  await assertReadOnlyOwnRows(app, tenant, lists, 'sync_logs')
})

test("a tenant's connection list and a venue's live connection are read through the tenant's indexes, not every tenant's", async (t) => {
  const app = await rig.build()
  t.after(() => app.close())
  const tenant = randomUUID()
  const venue = await seedConnections(tenant, 'stripe')

  const {
    result: [listed, live],
    queries: sent,
  } = await queriesSentBy(
    app.db.knex,
    async () => [await app.inject({ url: '/api/v1/integrations/connections?limit=5', headers: asAdmin(tenant) }), await app.db.withTenant(tenant, (trx) => app.connections.findLive(trx, venue.venue_id, 'stripe'))] as const,
  )
  assert.equal(listed.statusCode, 200, listed.body)
  assert.equal(listed.json().data.length, 5)
  assert.equal(live?.venue_id, venue.venue_id)

  const queries = sent.filter((query) => /^select .* from "integration"\."connections"/.test(query.sql))
  assert.equal(queries.length, 2, 'the list and the lookup were sent')
  await assertReadOnlyOwnRows(app, tenant, queries, 'connections')
})

test("a webhook's lookup leaves the system scope for its connection's tenant: the rest of the transaction is the tenant's, through its index", async (t) => {
  const app = await rig.build()
  t.after(() => app.close())
  const tenant = randomUUID()
  const own = await seedConnections(tenant, 'square')

  const seen = await app.db.withSystemScope(async (trx) => {
    const before = (await trx.raw('select current_user as role')).rows[0].role as string
    const found = await app.connections.findByIdEnteringTenant(trx, own.id)
    const after = (await trx.raw('select current_user as role')).rows[0].role as string
    const sql = "select tenant_id from integration.connections where provider = 'square'"
    const tenants = new Set(((await trx.raw(sql)).rows as Array<{ tenant_id: string }>).map((row) => row.tenant_id))
    return { before, after, found: found?.id, tenants: [...tenants], read: await rowsRead(trx, sql, [], 'connections') }
  })
  const { read, ...moved } = seen
  assert.deepEqual(moved, { before: 'hub_integration_system', after: 'hub_integration', found: own.id, tenants: [tenant] })
  assert.ok(read <= OWN, `read ${read} rows of connections; the tenant has ${OWN}`)
})
