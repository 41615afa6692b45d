import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createDatabase, createKnex, systemRoleOf } from '@hub/service-kit'
import { bearer, scrapeMetrics, testToken } from '@hub/service-kit/testing'
import { createVenueRepository } from '../src/plugins/app/venue-repository.ts'
import { setupVenueTests } from './helpers.ts'
import { VENUE_SCHEMA } from '../src/db/schema.ts'

const { build, db } = await setupVenueTests()
const tenant = randomUUID()
const admin = bearer(testToken({ tenantId: tenant, roles: ['admin'] }))

async function createVenue(app: Awaited<ReturnType<typeof build>>, name: string, headers = admin): Promise<string> {
  const response = await app.inject({ method: 'POST', url: '/api/v1/venues', headers, payload: { name, timezone: 'America/New_York', currency: 'USD' } })
  assert.equal(response.statusCode, 201, response.body)
  return response.json().id
}

test('a viewer reads but cannot write', async () => {
  const app = await build()
  const id = await createVenue(app, 'Viewer Hall')
  const viewer = bearer(testToken({ tenantId: tenant, roles: ['viewer'] }))
  assert.equal((await app.inject({ url: `/api/v1/venues/${id}`, headers: viewer })).statusCode, 200)
  const create = await app.inject({ method: 'POST', url: '/api/v1/venues', headers: viewer, payload: { name: 'No', timezone: 'UTC', currency: 'USD' } })
  assert.equal(create.statusCode, 403)
  assert.equal(create.json().code, 'INSUFFICIENT_ROLE')
  const patch = await app.inject({ method: 'PATCH', url: `/api/v1/venues/${id}`, headers: viewer, payload: { name: 'No' } })
  assert.equal(patch.statusCode, 403)
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/venues/${id}`, headers: viewer })).statusCode, 403)
})

test('a manager writes only the venues in its venue_ids, and cannot create or delete', async () => {
  const app = await build()
  const mine = await createVenue(app, 'Managed Club')
  const other = await createVenue(app, 'Not Managed Club')
  const manager = bearer(testToken({ tenantId: tenant, roles: ['manager'], venueIds: [mine] }))
  const ok = await app.inject({ method: 'PATCH', url: `/api/v1/venues/${mine}`, headers: manager, payload: { capacity: 300 } })
  assert.equal(ok.statusCode, 200)
  assert.equal(ok.json().capacity, 300)
  // Outside venue_ids the venue is not even visible to the manager.
  const outside = await app.inject({ method: 'PATCH', url: `/api/v1/venues/${other}`, headers: manager, payload: { capacity: 1 } })
  assert.equal(outside.statusCode, 404)
  const listed = await app.inject({ url: '/api/v1/venues?limit=100', headers: manager })
  assert.deepEqual(
    listed.json().data.map((v: { id: string }) => v.id),
    [mine],
  )
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/venues/${mine}`, headers: manager })).statusCode, 403)
  const noScope = bearer(testToken({ tenantId: tenant, roles: ['manager'] }))
  const denied = await app.inject({ method: 'PATCH', url: `/api/v1/venues/${mine}`, headers: noScope, payload: { capacity: 2 } })
  assert.equal(denied.statusCode, 403)
  assert.equal(denied.json().code, 'VENUE_ACCESS_DENIED')
})

test('members: a manager of the venue adds, changes and removes members', async () => {
  const app = await build()
  const id = await createVenue(app, 'Members Theatre')
  const manager = bearer(testToken({ tenantId: tenant, roles: ['manager'], venueIds: [id] }))
  const put = await app.inject({ method: 'PUT', url: `/api/v1/venues/${id}/members/user-42`, headers: manager, payload: { role: 'viewer' } })
  assert.equal(put.statusCode, 200)
  assert.equal(put.json().role, 'viewer')
  await app.inject({ method: 'PUT', url: `/api/v1/venues/${id}/members/user-42`, headers: manager, payload: { role: 'manager' } })
  const list = await app.inject({ url: `/api/v1/venues/${id}/members`, headers: manager })
  assert.deepEqual(
    list.json().data.map((m: { userId: string; role: string }) => [m.userId, m.role]),
    [['user-42', 'manager']],
  )
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/venues/${id}/members/user-42`, headers: manager })).statusCode, 204)
  const again = await app.inject({ method: 'DELETE', url: `/api/v1/venues/${id}/members/user-42`, headers: manager })
  assert.equal(again.statusCode, 404)
  assert.equal(again.json().code, 'MEMBER_NOT_FOUND')
  const bad = await app.inject({ method: 'PUT', url: `/api/v1/venues/${id}/members/user-42`, headers: manager, payload: { role: 'owner' } })
  assert.equal(bad.statusCode, 400)
})

test('row-level security: a query without a tenant filter sees only the current tenant', async () => {
  const app = await build()
  const other = randomUUID()
  await createVenue(app, 'RLS Tenant One')
  await createVenue(app, 'RLS Tenant Two', bearer(testToken({ tenantId: other, roles: ['admin'] })))
  const knex = createKnex(db.urlFor(VENUE_SCHEMA.appRole))
  try {
    const database = createDatabase(knex, { systemRole: systemRoleOf(VENUE_SCHEMA.appRole) })
    // A deliberately careless query: no WHERE tenant_id at all.
    const seen = await database.withTenant(tenant, (trx) => trx('venue.venues').select('tenant_id'))
    assert.ok(seen.length >= 1)
    assert.ok(
      seen.every((row) => row.tenant_id === tenant),
      'only the current tenant',
    )
    const none = await database.transaction((trx) => trx('venue.venues').select('id'))
    assert.equal(none.length, 0, 'no tenant set: no rows at all')
    const repo = createVenueRepository()
    const listed = await database.withTenant(other, (trx) => repo.list(trx, {}, { sort: 'name', direction: 'asc', limit: 100 }))
    assert.deepEqual(
      listed.map((v) => v.name),
      ['RLS Tenant Two'],
    )
    // Writing a row for another tenant is refused by the policy's WITH CHECK.
    await assert.rejects(
      database.withTenant(tenant, (trx) => trx('venue.venues').insert({ tenant_id: other, name: 'Smuggled', slug: 'smuggled', timezone: 'UTC', currency: 'USD', created_by: 'x' })),
      /row-level security/,
    )
    const role = await knex.raw('select rolbypassrls, rolsuper from pg_roles where rolname = current_user')
    assert.deepEqual(role.rows[0], { rolbypassrls: false, rolsuper: false })
    await assert.rejects(knex.raw('alter table venue.venues disable row level security'), /must be owner/)
  } finally {
    await knex.destroy()
  }
  const stored = await db.adminQuery<{ n: string }>('select count(*)::text as n from venue.venues where tenant_id = $1', [other])
  assert.equal(stored[0]?.n, '1')
})

test('health, readiness, metrics and OpenAPI answer without a token', async () => {
  const app = await build()
  assert.equal((await app.inject({ url: '/health' })).json().status, 'ok')
  const ready = await app.inject({ url: '/ready' })
  assert.equal(ready.statusCode, 200, ready.body)
  assert.deepEqual(ready.json().checks, { postgres: { status: 'up' }, migrations: { status: 'up' }, redis: { status: 'up' }, shutdown: { status: 'up' } })
  await app.inject({ url: `/api/v1/venues/${randomUUID()}`, headers: admin })
  assert.equal((await app.inject({ url: '/metrics' })).statusCode, 404, 'metrics are not on the public listener')
  const metrics = { body: await scrapeMetrics(app) }
  assert.match(metrics.body, /http_request_duration_seconds_count\{[^}]*route="\/api\/v1\/venues\/:id"[^}]*status_code="404"/)
  const openapi = (await app.inject({ url: '/openapi.json' })).json()
  assert.equal(openapi.openapi, '3.1.0')
  assert.ok(openapi.paths['/api/v1/venues/{id}'].patch.requestBody)
})

test('readiness is 503 when Postgres is unreachable', async () => {
  const app = await build({ DATABASE_URL: 'postgres://hub_venue@127.0.0.1:1/nowhere' })
  const ready = await app.inject({ url: '/ready' })
  assert.equal(ready.statusCode, 503)
  assert.equal(ready.json().checks.postgres.status, 'down')
  assert.equal(ready.json().checks.redis.status, 'up')
  const list = await app.inject({ url: '/api/v1/venues', headers: admin })
  assert.equal(list.statusCode, 503, list.body)
})

test('members are listed a page at a time as {data, nextCursor}, and a tampered cursor is 400', async () => {
  const app = await build()
  const id = await createVenue(app, 'Paged Members Hall')
  const admin = bearer(testToken({ tenantId: tenant, roles: ['admin'] }))
  const users = Array.from({ length: 7 }, (_, i) => `user-${String(i).padStart(2, '0')}`)
  for (const user of users) assert.equal((await app.inject({ method: 'PUT', url: `/api/v1/venues/${id}/members/${user}`, headers: admin, payload: { role: 'viewer' } })).statusCode, 200)
  const seen: string[] = []
  let cursor: string | null = null
  do {
    const response: Awaited<ReturnType<typeof app.inject>> = await app.inject({ url: `/api/v1/venues/${id}/members?limit=3${cursor ? `&cursor=${cursor}` : ''}`, headers: admin })
    assert.equal(response.statusCode, 200)
    const body = response.json() as { data: Array<{ userId: string }>; nextCursor: string | null }
    assert.ok(body.data.length <= 3)
    seen.push(...body.data.map((m) => m.userId))
    cursor = body.nextCursor
  } while (cursor)
  assert.deepEqual(seen, users)
  const tampered = Buffer.from(JSON.stringify({ u: 'a\u0000b' })).toString('base64url')
  const refused = await app.inject({ url: `/api/v1/venues/${id}/members?cursor=${tampered}`, headers: admin })
  assert.equal(refused.statusCode, 400)
  assert.equal(refused.json().code, 'INVALID_CURSOR')
})

test('members with 150 CJK, 200 astral or 200 control-character user ids are paged to the end', async () => {
  const app = await build()
  const id = await createVenue(app, 'Long Member Ids Hall')
  const users = ['用'.repeat(150), '😀'.repeat(199), '\u0001'.repeat(199)].flatMap((prefix) => [prefix + 'a', prefix + 'b'])
  for (const user of users) {
    const put = await app.inject({ method: 'PUT', url: `/api/v1/venues/${id}/members/${encodeURIComponent(user)}`, headers: admin, payload: { role: 'viewer' } })
    assert.equal(put.statusCode, 200, put.body)
    assert.equal(put.json().userId, user)
  }
  const all = (await app.inject({ url: `/api/v1/venues/${id}/members?limit=200`, headers: admin })).json().data.map((m: { userId: string }) => m.userId)
  assert.equal(all.length, users.length)
  const seen: string[] = []
  let cursor: string | null = null
  do {
    const response: Awaited<ReturnType<typeof app.inject>> = await app.inject({ url: `/api/v1/venues/${id}/members?limit=1${cursor ? `&cursor=${cursor}` : ''}`, headers: admin })
    assert.equal(response.statusCode, 200, `after ${seen.length}: ${response.body}`)
    seen.push(...response.json().data.map((m: { userId: string }) => m.userId))
    cursor = response.json().nextCursor
  } while (cursor)
  assert.deepEqual(seen, all)
})
