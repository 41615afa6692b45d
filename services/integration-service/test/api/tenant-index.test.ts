// sync_logs has a system policy beside the tenant's, and Postgres ORs them: unless the query states
// the tenant itself, no index can find one tenant's rows, and a tenant's list reads every tenant's.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { bearer, queriesSentBy, rowsRead, testToken } from '@hub/service-kit/testing'
import { setupRig } from '../connections/rig.ts'

const rig = await setupRig()

test("a tenant's sync-log list reads its own runs through the tenant's index, not every tenant's", async (t) => {
  const app = await rig.build()
  t.after(() => app.close())
  const tenant = randomUUID()
  const own = 40
  // 20,000 runs of 200 other tenants, and this tenant's 40 (one in four failed).
  await rig.db.adminQuery(
    `insert into integration.sync_logs (tenant_id, venue_id, connection_id, provider, entity, mode, trigger, queue, status, started_at, finished_at, created_at)
     select case when g <= ${own} then $1::uuid else md5('other-tenant-' || (g % 200))::uuid end, md5('venue-' || (g % 400))::uuid, md5('connection-' || (g % 400))::uuid,
            'stripe', 'customer', 'incremental', 'scheduled', 'integration-normal', case when g % 4 = 0 then 'failed' else 'succeeded' end,
            now() - (g || ' minutes')::interval, now() - (g || ' minutes')::interval, now() - (g || ' minutes')::interval
       from generate_series(1, 20000 + ${own}) g`,
    [tenant],
  )
  await rig.db.adminQuery('analyze integration.sync_logs')

  const { result: listed, queries: sent } = await queriesSentBy(app.db.knex, () => app.inject({ url: '/api/v1/integrations/sync-logs?status=failed&limit=5', headers: bearer(testToken({ tenantId: tenant, roles: ['admin'] })) }))
  assert.equal(listed.statusCode, 200, listed.body)
  assert.equal(listed.json().data.length, 5)
  assert.ok(listed.json().data.every((log: { status: string }) => log.status === 'failed'))

  const list = sent.find((query) => /^select \* from "integration"\."sync_logs"/.test(query.sql))
  assert.ok(list, 'the list query was sent')
  const read = await app.db.withTenant(tenant, (trx) => rowsRead(trx, list.sql, list.bindings, 'sync_logs'))
  assert.ok(read <= own, `the list read ${read} rows of sync_logs; the tenant has ${own}`)
})

test("a tenant's connection list and a venue's live connection are read through the tenant's indexes, not every tenant's", async (t) => {
  const app = await rig.build()
  t.after(() => app.close())
  const tenant = randomUUID()
  const own = 40
  await rig.db.adminQuery(
    `insert into integration.connections (tenant_id, venue_id, provider, auth_type, status, created_by)
     select case when g <= ${own} then $1::uuid else md5('other-tenant-' || (g % 200))::uuid end, md5('venue-' || g)::uuid, 'stripe', 'api_key', 'active', 'seed'
       from generate_series(1, 20000 + ${own}) g`,
    [tenant],
  )
  await rig.db.adminQuery('analyze integration.connections')
  const [venue] = await rig.db.adminQuery<{ venue_id: string }>('select venue_id from integration.connections where tenant_id = $1 limit 1', [tenant])
  assert.ok(venue)

  const {
    result: [listed, live],
    queries: sent,
  } = await queriesSentBy(
    app.db.knex,
    async () =>
      [
        await app.inject({ url: '/api/v1/integrations/connections?limit=5', headers: bearer(testToken({ tenantId: tenant, roles: ['admin'] })) }),
        await app.db.withTenant(tenant, (trx) => app.connections.findLive(trx, venue.venue_id, 'stripe')),
      ] as const,
  )
  assert.equal(listed.statusCode, 200, listed.body)
  assert.equal(listed.json().data.length, 5)
  assert.equal(live?.venue_id, venue.venue_id)

  const queries = sent.filter((query) => /^select .* from "integration"\."connections"/.test(query.sql))
  assert.equal(queries.length, 2, 'the list and the lookup were sent')
  for (const query of queries) {
    const read = await app.db.withTenant(tenant, (trx) => rowsRead(trx, query.sql, query.bindings, 'connections'))
    assert.ok(read <= own, `${query.sql} read ${read} rows of connections; the tenant has ${own}`)
  }
})
