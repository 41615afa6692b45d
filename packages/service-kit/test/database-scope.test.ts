// withTenant and withSystemScope open their transaction and set its scope in one round trip, on a
// real Postgres: the scope is set for the statements inside, gone after, rolled back with the
// transaction, and a tenant id that is not a UUID is still bound, never inlined.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Knex } from 'knex'
import { createDatabase, createKnex, type Database } from '../src/index.ts'
import { createTestDatabase, type TestDatabase } from '../src/testing/index.ts'

let testDb: TestDatabase
let knex: Knex
let db: Database
const sent: string[] = []

before(async () => {
  testDb = await createTestDatabase([])
  // One pooled connection: every transaction below reuses the one before's session.
  knex = createKnex(testDb.adminUrl, { poolMax: 1 })
  knex.on('query', (query: { sql: string }) => sent.push(query.sql))
  db = createDatabase(knex, { systemRole: null })
})

after(async () => {
  await knex.destroy()
  await testDb.drop()
})

const setting = (trx: Knex | Knex.Transaction, name: string) => trx.raw('select current_setting(?, true) as value', [name]).then((result: { rows: Array<{ value: string | null }> }) => result.rows[0]?.value ?? null)

async function roundTrips<T>(fn: () => Promise<T>): Promise<{ value: T; statements: string[] }> {
  sent.length = 0
  const value = await fn()
  return { value, statements: [...sent] }
}

test('withTenant: BEGIN and the tenant scope leave as one statement, and the scope holds inside only', async () => {
  const tenantId = '3f6c2a90-5d1e-4b7a-9c3e-0a1b2c3d4e5f'
  const { value, statements } = await roundTrips(() => db.withTenant(tenantId, (trx) => setting(trx, 'app.tenant_id')))
  assert.equal(value, tenantId)
  assert.deepEqual(statements, [`BEGIN; select set_config('app.tenant_id', '${tenantId}', true)`, 'select current_setting($1, true) as value', 'COMMIT;'])
  // Transaction-local: the next user of the same pooled connection sees no tenant.
  assert.ok(['', null].includes(await setting(knex, 'app.tenant_id')))
})

test('withSystemScope: one opening statement, the system scope inside, none after', async () => {
  const { value, statements } = await roundTrips(() => db.withSystemScope((trx) => setting(trx, 'app.scope')))
  assert.equal(value, 'system')
  assert.equal(statements.length, 3)
  assert.equal(statements[0], "BEGIN; select set_config('app.scope', 'system', true)")
  assert.ok(['', null].includes(await setting(knex, 'app.scope')))
})

test('a failing transaction rolls back its writes and its scope', async () => {
  await knex.raw('create table if not exists scope_probe (v text)')
  const tenantId = '0e1d2c3b-4a59-4876-a5b4-c3d2e1f00112'
  await assert.rejects(
    db.withTenant(tenantId, async (trx) => {
      await trx.raw('insert into scope_probe (v) values (?)', ['written'])
      throw new Error('boom')
    }),
    /boom/,
  )
  assert.deepEqual((await knex.raw('select count(*)::int as n from scope_probe')).rows, [{ n: 0 }])
  assert.ok(['', null].includes(await setting(knex, 'app.tenant_id')))
})

test('a tenant id that is not a canonical UUID is bound in its own statement, never inlined', async () => {
  const hostile = "x', true); drop table scope_probe; select set_config('app.scope', 'system"
  const { value, statements } = await roundTrips(() => db.withTenant(hostile, (trx) => setting(trx, 'app.tenant_id')))
  assert.equal(value, hostile)
  assert.equal(statements[0], 'BEGIN;')
  assert.ok(statements.every((sql) => !sql.includes('drop table')))
  assert.equal((await knex.raw("select to_regclass('scope_probe') is not null as present")).rows[0].present, true)
})
