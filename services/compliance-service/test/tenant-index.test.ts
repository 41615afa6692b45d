// The audit log, security events and sync runs have a system policy beside the tenant's. Were both
// the service role's, Postgres would OR them, no index could find one tenant's rows, and a tenant's
// list would read every tenant's. Each list here must read only its tenant's rows.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createFastify, type ServiceInstance } from '@hub/service-kit'
import { bearer, createTestDatabase, deleteRedisPrefix, queriesSentBy, rowsRead, testRedisPrefix, testServiceEnv, testToken } from '@hub/service-kit/testing'
import complianceService from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { COMPLIANCE_SCHEMA } from '../src/db/schema.ts'

const db = await createTestDatabase([COMPLIANCE_SCHEMA])
const prefix = testRedisPrefix()
const app: ServiceInstance = createFastify({ service: 'compliance-service', logLevel: process.env.TEST_LOG_LEVEL ?? 'silent' })
await app.register(complianceService, {
  config: loadConfig({ ...testServiceEnv(prefix), DATABASE_URL: db.urlFor(COMPLIANCE_SCHEMA.appRole), INTEGRATION_SERVICE_URL: 'http://127.0.0.1:9', SYNC_LOG_CONSUMER: 'false' }),
})
await app.ready()
test.after(async () => {
  await app.close()
  await db.drop()
  await deleteRedisPrefix(prefix)
})

const tenant = randomUUID()
const venue = randomUUID()
const OWN = 40
const OTHERS = 20_000
/** Row g: this tenant's for the first OWN, otherwise one of 200 other tenants'. */
const tenantOf = `case when g <= ${OWN} then $1::uuid else md5('other-tenant-' || (g % 200))::uuid end`
const venueOf = `case when g <= ${OWN} then $2::uuid else md5('other-venue-' || (g % 400))::uuid end`
const hash = `encode(sha256(g::text::bytea), 'hex')`

await db.adminQuery(
  `insert into compliance.audit_log (tenant_id, event_id, source, actor_type, actor_id, action, entity_type, entity_id, occurred_at, prev_hash, hash)
   select ${tenantOf}, gen_random_uuid(), 'venue-service', 'user', 'user-' || g, 'venue.updated', 'venue', ${venueOf}::text, now() - (g || ' seconds')::interval, ${hash}, ${hash}
     from generate_series(1, ${OTHERS + OWN}) g`,
  [tenant, venue],
)
await db.adminQuery(
  `insert into compliance.security_events (id, tenant_id, type, severity, source, code, occurred_at, first_seen_at, last_seen_at)
   select gen_random_uuid(), ${tenantOf}, 'AUTH_FAILURE', 'medium', 'api-gateway', 'TOKEN_INVALID', now() - (g || ' seconds')::interval, now(), now()
     from generate_series(1, ${OTHERS + OWN}) g`,
  [tenant],
)
await db.adminQuery(
  `insert into compliance.sync_logs (id, tenant_id, venue_id, connection_id, provider, entity, mode, trigger, queue, status, records_fetched, records_created, records_updated,
                                     records_unchanged, records_deleted, records_failed, source_created_at, source_updated_at)
   select gen_random_uuid(), ${tenantOf}, ${venueOf}, gen_random_uuid(), 'stripe', 'customer', 'incremental', 'scheduled', 'integration-normal',
          case when g % 4 = 0 then 'failed' else 'succeeded' end, 0, 0, 0, 0, 0, 0, now() - (g || ' minutes')::interval, now()
     from generate_series(1, ${OTHERS + OWN}) g`,
  [tenant, venue],
)
for (const table of ['audit_log', 'security_events', 'sync_logs']) await db.adminQuery(`analyze compliance.${table}`)

/** Sends `url` as the tenant's admin and returns, for each query of `table` it sent, the rows of `table` that query reads. */
async function rowsReadBy(url: string, table: string): Promise<number[]> {
  const { result: response, queries: sent } = await queriesSentBy(app.db.knex, () => app.inject({ url, headers: bearer(testToken({ tenantId: tenant, roles: ['admin'] })) }))
  assert.equal(response.statusCode, 200, response.body)
  assert.ok(response.json().data.length > 0, `${url} listed the tenant's rows`)
  const queries = sent.filter((query) => query.sql.includes(`"compliance"."${table}"`))
  assert.ok(queries.length > 0, `${url} queried ${table}`)
  return Promise.all(queries.map((query) => app.db.withTenant(tenant, (trx) => rowsRead(trx, query.sql, query.bindings, table))))
}

test("a tenant's audit log, security events and a venue's sync runs are read through the tenant's index, not every tenant's", async () => {
  for (const [url, table] of [
    ['/api/v1/compliance/audit-log?limit=5', 'audit_log'],
    ['/api/v1/compliance/audit-log?limit=5&action=venue.updated', 'audit_log'],
    ['/api/v1/compliance/security-events?limit=5', 'security_events'],
    [`/api/v1/compliance/venues/${venue}/sync-logs?status=failed&limit=5`, 'sync_logs'],
  ] as const) {
    for (const read of await rowsReadBy(url, table)) assert.ok(read <= OWN, `${url} read ${read} rows of ${table}; the tenant has ${OWN}`)
  }
})
