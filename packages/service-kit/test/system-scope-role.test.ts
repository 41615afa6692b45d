// The `system` policies apply to the service's system role alone, which withSystemScope switches to
// for one transaction. So a tenant's statement meets only the tenant policy and an index on
// tenant_id serves it, even with no tenant in the SQL (Postgres ORs a role's permissive policies,
// and no index serves `tenant_id = … OR <scope> = 'system'`); the scope setting alone opens nothing;
// and the system role holds exactly the service's privileges, no more.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { after, before, test } from 'node:test'
import type { Knex } from 'knex'
import { createDatabase, createKnex, migrateSchema, systemRoleOf, type Database, type SchemaSpec } from '../src/index.ts'
import { createTestDatabase, queriesSentBy, rowsRead, type TestDatabase } from '../src/testing/index.ts'

const spec: SchemaSpec = { schema: 'scope_probe', appRole: 'hub_scope_probe', directory: fileURLToPath(new URL('./fixtures/system-scope-migrations', import.meta.url)) }
const SYSTEM = systemRoleOf(spec.appRole)
const OWN = 20
const OTHERS = 20_000
const tenant = randomUUID()

let testDb: TestDatabase
let knex: Knex
let db: Database

before(async () => {
  testDb = await createTestDatabase([spec])
  await testDb.adminQuery(
    `insert into scope_probe.probe (tenant_id, body)
     select case when g <= ${OWN} then $1::uuid else md5('other-' || (g % 100))::uuid end, 'row ' || g from generate_series(1, ${OWN + OTHERS}) g`,
    [tenant],
  )
  await testDb.adminQuery('analyze scope_probe.probe')
  // One pooled connection: each transaction reuses the session of the one before it.
  knex = createKnex(testDb.urlFor(spec.appRole), { poolMax: 1 })
  db = createDatabase(knex, { systemRole: SYSTEM })
})

after(async () => {
  await knex.destroy()
  await testDb.drop()
})

const currentUser = async (trx: Knex | Knex.Transaction) => ((await trx.raw('select current_user as name')) as { rows: Array<{ name: string }> }).rows[0]?.name

/** `table:PRIVILEGE` of every table in the probe schema that `role` may use so. */
const privileges = async (role: string) =>
  (
    await testDb.adminQuery<{ privilege: string }>(
      `select t.relname || ':' || p as privilege from pg_class t join pg_namespace n on n.oid = t.relnamespace
       cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p
      where n.nspname = 'scope_probe' and t.relkind = 'r' and has_table_privilege($1, t.oid, p) order by 1`,
      [role],
    )
  ).map((row) => row.privilege)

test("a tenant's statement with no tenant in it reads only the tenant's rows, through the tenant's index", async () => {
  const sql = 'select id, body from scope_probe.probe order by id desc limit 5'
  const { rows, read } = await db.withTenant(tenant, async (trx) => ({ rows: ((await trx.raw(sql)) as { rows: unknown[] }).rows, read: await rowsRead(trx, sql, [], 'probe') }))
  assert.equal(rows.length, 5)
  assert.ok(read <= OWN, `read ${read} rows for a tenant that has ${OWN}`)
  assert.equal(await db.withTenant(tenant, async (trx) => ((await trx.raw('select count(*)::int as n from scope_probe.probe')) as { rows: Array<{ n: number }> }).rows[0]?.n), OWN)
})

test('withSystemScope enters the system role with its BEGIN, reads across tenants as it, and the connection is the service again after it', async () => {
  const { result: seen, queries } = await queriesSentBy(knex, () =>
    db.withSystemScope(async (trx) => ({ user: await currentUser(trx), rows: ((await trx.raw('select count(*)::int as n from scope_probe.probe')) as { rows: Array<{ n: number }> }).rows[0]?.n })),
  )
  assert.deepEqual(seen, { user: SYSTEM, rows: OWN + OTHERS })
  assert.equal(queries[0]?.sql, `BEGIN; select set_config('app.scope', 'system', true), set_config('role', '${SYSTEM}', true)`, 'one opening statement')
  assert.equal(queries.length, 4, queries.map((query) => query.sql).join(' | '))
  assert.equal(await currentUser(knex), spec.appRole)
  assert.equal(await db.transaction(async (trx) => ((await trx.raw('select count(*)::int as n from scope_probe.probe')) as { rows: Array<{ n: number }> }).rows[0]?.n), 0)
})

test('the scope setting without the role opens nothing: the system policies are not the service role’s', async () => {
  const visible = await knex.transaction(async (trx) => {
    await trx.raw("select set_config('app.scope', 'system', true)")
    return ((await trx.raw('select count(*)::int as n from scope_probe.probe')) as { rows: Array<{ n: number }> }).rows[0]?.n
  })
  assert.equal(visible, 0)
  const policies = await testDb.adminQuery<{ policyname: string; roles: string }>("select policyname, roles::text from pg_policies where schemaname = 'scope_probe' order by tablename, policyname")
  assert.deepEqual(policies, [
    { policyname: 'system_all', roles: `{${SYSTEM}}` },
    { policyname: 'tenant_isolation', roles: '{public}' },
    { policyname: 'system_read', roles: `{${SYSTEM}}` },
    { policyname: 'tenant_isolation', roles: '{public}' },
  ])
})

test("the system role holds the service's privileges and no more, and the service role does not inherit it", async () => {
  const service = await privileges(spec.appRole)
  assert.ok(service.includes('ledger:INSERT') && !service.includes('ledger:DELETE'), service.join(' '))
  assert.deepEqual(await privileges(SYSTEM), service)
  const [inherits] = await testDb.adminQuery<{ inherits: boolean; member: boolean }>("select pg_has_role($1, $2, 'usage') as inherits, pg_has_role($3, $4, 'member') as member", [spec.appRole, SYSTEM, spec.appRole, SYSTEM])
  assert.deepEqual(inherits, { inherits: false, member: true })
  await assert.rejects(
    db.withSystemScope((trx) => trx.raw('delete from scope_probe.ledger')),
    (error: { code?: string }) => error.code === '42501',
  )
})

test('migrating again changes nothing that holds, and restores what an older release or a hand left (inheritance, membership, a privilege)', async () => {
  // As a release before the system role left the service role: inheriting, and no member of it.
  await testDb.adminQuery(`alter role ${spec.appRole} inherit`)
  await testDb.adminQuery(`revoke ${SYSTEM} from ${spec.appRole}`)
  await testDb.adminQuery(`grant delete on scope_probe.ledger to ${SYSTEM}`)
  assert.ok((await privileges(SYSTEM)).includes('ledger:DELETE'))
  assert.deepEqual(await migrateSchema(testDb.adminUrl, spec), [])
  assert.deepEqual(await privileges(SYSTEM), await privileges(spec.appRole))
  assert.ok(!(await privileges(SYSTEM)).includes('ledger:DELETE'))
  const [role] = await testDb.adminQuery<{ inherits: boolean; member: boolean }>("select rolinherit as inherits, pg_has_role($1, $2, 'member') as member from pg_roles where rolname = $3", [spec.appRole, SYSTEM, spec.appRole])
  assert.deepEqual(role, { inherits: false, member: true })
  assert.equal(await db.withSystemScope(async (trx) => ((await trx.raw('select count(*)::int as n from scope_probe.probe')) as { rows: Array<{ n: number }> }).rows[0]?.n), OWN + OTHERS)
})

test('migrating again with nothing to change does not wait for the service: a reader holding its table blocks nothing', async () => {
  const reader = createKnex(testDb.adminUrl, { poolMax: 1 })
  let migrated: Promise<string[]> | undefined
  let waited = false
  try {
    await reader.transaction(async (trx) => {
      // Holds the table's ACCESS SHARE lock until this transaction ends, as a running service would.
      await trx.raw('select count(*) from scope_probe.probe')
      const run = migrateSchema(testDb.adminUrl, spec)
      migrated = run
      const settled = run.then(
        () => true,
        () => true,
      )
      while (!(await Promise.race([settled, new Promise<false>((resolve) => setTimeout(() => resolve(false), 50))]))) {
        const blocked = await testDb.adminQuery("select 1 from pg_stat_activity where datname = $1 and wait_event_type = 'Lock'", [testDb.name])
        if (blocked.length > 0) {
          waited = true
          break
        }
      }
    })
  } finally {
    await reader.destroy()
  }
  assert.deepEqual(await migrated, [])
  assert.equal(waited, false, 'the migration waited for a lock the reader held')
})

test("the service role's sessions end when idle in a transaction and probe a silent client: set on the role, so they hold through a pooler", async () => {
  const session = (await knex.raw(
    "select current_setting('idle_in_transaction_session_timeout') as idle_tx, current_setting('tcp_keepalives_idle') as idle, current_setting('tcp_keepalives_interval') as every, current_setting('tcp_keepalives_count') as probes",
  )) as { rows: Array<Record<string, string>> }
  assert.deepEqual(session.rows[0], { idle_tx: '5min', idle: '30', every: '10', probes: '3' })

  // A session ended that way frees its locks, and the pool goes on with a new one (the bound
  // shortened for the test inside the transaction alone).
  const trx = await knex.transaction()
  await trx.raw("set local idle_in_transaction_session_timeout = '200ms'")
  await trx.raw('select pg_advisory_xact_lock(4242)')
  await new Promise((resolve) => setTimeout(resolve, 800))
  const free = await testDb.adminQuery<{ got: boolean }>('select pg_try_advisory_xact_lock(4242) as got')
  assert.equal(free[0]?.got, true, 'the lock went with the session')
  await assert.rejects(trx.raw('select 1'))
  await trx.rollback().catch(() => undefined)
  assert.deepEqual((await knex.raw('select 1 as one')).rows, [{ one: 1 }])

  // A release whose role lost a default (by hand, or an older release) gets it back at the next migration.
  await testDb.adminQuery(`alter role ${spec.appRole} reset idle_in_transaction_session_timeout`)
  await migrateSchema(testDb.adminUrl, spec)
  const roles = await testDb.adminQuery<{ setconfig: string[] }>('select setconfig from pg_db_role_setting where setrole = to_regrole($1) and setdatabase = 0', [spec.appRole])
  assert.ok(roles[0]?.setconfig.includes('idle_in_transaction_session_timeout=5min'), JSON.stringify(roles))
})
