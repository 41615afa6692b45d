import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { bearer, testToken } from '@hub/service-kit/testing'
import { setupVenueTests } from './helpers.ts'

const { build, db } = await setupVenueTests()

const tenantA = randomUUID()
const tenantB = randomUUID()
const adminA = bearer(testToken({ tenantId: tenantA, roles: ['admin'], sub: 'admin-a' }))
const adminB = bearer(testToken({ tenantId: tenantB, roles: ['admin'], sub: 'admin-b' }))
const viewerA = bearer(testToken({ tenantId: tenantA, roles: ['viewer'], sub: 'viewer-a' }))

const venueBody = (overrides: Record<string, unknown> = {}) => ({
  name: 'Royal Albert Hall',
  timezone: 'Europe/London',
  currency: 'GBP',
  capacity: 5272,
  address: { line1: 'Kensington Gore', city: 'London', postalCode: 'SW7 2AP', country: 'GB' },
  ...overrides,
})

test('creates, reads, updates, archives and deletes a venue', async () => {
  const app = await build()
  const created = await app.inject({ method: 'POST', url: '/api/v1/venues', headers: adminA, payload: venueBody() })
  assert.equal(created.statusCode, 201, created.body)
  const venue = created.json()
  assert.equal(venue.slug, 'royal-albert-hall')
  assert.equal(venue.tenantId, tenantA)
  assert.equal(venue.status, 'active')
  assert.equal(created.headers.location, `/api/v1/venues/${venue.id}`)

  const fetched = await app.inject({ url: `/api/v1/venues/${venue.id}`, headers: viewerA })
  assert.equal(fetched.statusCode, 200)
  assert.deepEqual(fetched.json(), venue)

  const patched = await app.inject({ method: 'PATCH', url: `/api/v1/venues/${venue.id}`, headers: adminA, payload: { capacity: 5000, name: 'The Royal Albert Hall' } })
  assert.equal(patched.statusCode, 200)
  assert.equal(patched.json().capacity, 5000)
  assert.equal(patched.json().slug, 'royal-albert-hall', 'slug does not follow a rename')

  const archived = await app.inject({ method: 'POST', url: `/api/v1/venues/${venue.id}/archive`, headers: adminA })
  assert.equal(archived.json().status, 'archived')
  assert.ok(archived.json().archivedAt)

  const deleted = await app.inject({ method: 'DELETE', url: `/api/v1/venues/${venue.id}`, headers: adminA })
  assert.equal(deleted.statusCode, 204)
  const gone = await app.inject({ url: `/api/v1/venues/${venue.id}`, headers: adminA })
  assert.equal(gone.statusCode, 404)
  assert.equal(gone.json().code, 'VENUE_NOT_FOUND')

  const audit = await db.adminQuery(`select action from venue.audit_outbox where entity_id = $1 order by occurred_at, action`, [venue.id])
  assert.deepEqual(audit.map((row) => row.action).sort(), ['venue.archived', 'venue.created', 'venue.deleted', 'venue.updated'])
})

test('a slug is unique per tenant but may repeat across tenants', async () => {
  const app = await build()
  const first = await app.inject({ method: 'POST', url: '/api/v1/venues', headers: adminA, payload: venueBody({ name: 'Slug Test', slug: 'slug-test' }) })
  assert.equal(first.statusCode, 201)
  const clash = await app.inject({ method: 'POST', url: '/api/v1/venues', headers: adminA, payload: venueBody({ name: 'Other', slug: 'slug-test' }) })
  assert.equal(clash.statusCode, 409)
  assert.equal(clash.json().code, 'VENUE_SLUG_TAKEN')
  assert.match(String(clash.headers['content-type']), /application\/problem\+json/)
  const otherTenant = await app.inject({ method: 'POST', url: '/api/v1/venues', headers: adminB, payload: venueBody({ name: 'Other', slug: 'slug-test' }) })
  assert.equal(otherTenant.statusCode, 201)
})

test('bad bodies, ids and queries give 400 problem+json with errors[], never 500', async () => {
  const app = await build()
  const cases = [
    { method: 'POST' as const, url: '/api/v1/venues', payload: { name: '', timezone: 'UTC', currency: 'GBP' }, path: '/body/name' },
    { method: 'POST' as const, url: '/api/v1/venues', payload: { name: 'X', timezone: 'UTC', currency: 'pounds' }, path: '/body/currency' },
    { method: 'POST' as const, url: '/api/v1/venues', payload: { name: 'X', timezone: 'UTC' }, path: '/body/currency' },
    { method: 'POST' as const, url: '/api/v1/venues', payload: { name: 'X', timezone: 'UTC', currency: 'GBP', capacity: -1 }, path: '/body/capacity' },
    { method: 'POST' as const, url: '/api/v1/venues', payload: { name: 'X', timezone: 'UTC', currency: 'GBP', owner: 'me' }, path: '/body/owner' },
    { method: 'POST' as const, url: '/api/v1/venues', payload: { name: 'X', timezone: 'Mars/Olympus', currency: 'GBP' }, path: '/body/timezone' },
    { method: 'GET' as const, url: '/api/v1/venues/not-a-uuid', path: '/params/id' },
    { method: 'PATCH' as const, url: `/api/v1/venues/${randomUUID()}`, payload: {}, path: '/body' },
    { method: 'GET' as const, url: '/api/v1/venues?limit=1000', path: '/querystring/limit' },
    { method: 'GET' as const, url: '/api/v1/venues?sort=price', path: '/querystring/sort' },
    { method: 'POST' as const, url: '/api/v1/venues', payload: { name: 'X', timezone: 'UTC', currency: 'ABC' }, path: '/body/currency' },
    { method: 'PATCH' as const, url: `/api/v1/venues/${randomUUID()}`, payload: { currency: 'XYZ' }, path: '/body/currency' },
    // Strict types: nothing is coerced into a string, an integer or out of hex.
    { method: 'POST' as const, url: '/api/v1/venues', payload: { name: 12345, timezone: 'UTC', currency: 'GBP' }, path: '/body/name' },
    { method: 'POST' as const, url: '/api/v1/venues', payload: { name: 'X', slug: ['x'], timezone: 'UTC', currency: 'GBP' }, path: '/body/slug' },
    { method: 'POST' as const, url: '/api/v1/venues', payload: { name: 'X', timezone: 'UTC', currency: 'GBP', capacity: true }, path: '/body/capacity' },
    { method: 'GET' as const, url: '/api/v1/venues?limit=0x10', path: '/querystring/limit' },
    { method: 'POST' as const, url: '/api/v1/venues', payload: { name: 'X\u0000', timezone: 'UTC', currency: 'GBP' }, path: '/body/name' },
  ]
  for (const c of cases) {
    const response = await app.inject({ method: c.method, url: c.url, headers: adminA, ...(c.payload ? { payload: c.payload } : {}) })
    assert.equal(response.statusCode, 400, `${c.method} ${c.url} ${JSON.stringify(c.payload)}: ${response.body}`)
    const problem = response.json()
    assert.match(String(response.headers['content-type']), /application\/problem\+json/)
    assert.ok(problem.code, 'has a code')
    assert.ok(Array.isArray(problem.errors) && problem.errors.some((e: { path: string }) => e.path.startsWith(c.path)), `${c.url}: ${response.body}`)
    assert.doesNotMatch(response.body, /\s+at\s+\S+\s\(|node_modules/, 'no stack trace')
  }
  const badJson = await app.inject({ method: 'POST', url: '/api/v1/venues', headers: { ...adminA, 'content-type': 'application/json' }, payload: '{"name":' })
  assert.equal(badJson.statusCode, 400)
  assert.equal(badJson.json().code, 'INVALID_JSON')
  const badCursor = await app.inject({ url: '/api/v1/venues?cursor=garbage', headers: adminA })
  assert.equal(badCursor.statusCode, 400)
  assert.equal(badCursor.json().code, 'INVALID_CURSOR')
})

test('lists with cursor pagination, filters and sort, visiting every venue exactly once', async () => {
  const app = await build()
  const tenant = randomUUID()
  const admin = bearer(testToken({ tenantId: tenant, roles: ['admin'] }))
  const names: string[] = []
  for (let i = 0; i < 23; i++) {
    const name = `Venue ${String(i).padStart(2, '0')}`
    names.push(name)
    const r = await app.inject({ method: 'POST', url: '/api/v1/venues', headers: admin, payload: venueBody({ name, currency: i % 2 ? 'EUR' : 'USD' }) })
    assert.equal(r.statusCode, 201)
  }
  const walk = async (query: string) => {
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const response: Awaited<ReturnType<typeof app.inject>> = await app.inject({ url: `/api/v1/venues?limit=5&${query}${cursor ? `&cursor=${cursor}` : ''}`, headers: admin })
      assert.equal(response.statusCode, 200, response.body)
      const page = response.json()
      seen.push(...page.data.map((v: { name: string }) => v.name))
      cursor = page.nextCursor
    } while (cursor)
    return seen
  }
  assert.deepEqual(await walk('sort=name'), [...names].sort())
  assert.deepEqual(await walk('sort=-name'), [...names].sort().reverse())
  assert.deepEqual(await walk('sort=created_at'), names)
  assert.deepEqual(await walk('sort=-created_at'), [...names].reverse())
  assert.equal((await walk('currency=EUR')).length, 11)
  assert.deepEqual(await walk('q=venue%2007'), ['Venue 07'])
  const mismatched = await app.inject({ url: '/api/v1/venues?limit=5&sort=name', headers: admin })
  const reused = await app.inject({ url: `/api/v1/venues?sort=created_at&cursor=${mismatched.json().nextCursor}`, headers: admin })
  assert.equal(reused.statusCode, 400, 'a cursor from another sort order is refused')
})

test('cross-tenant read, update and delete of a venue give 404', async () => {
  const app = await build()
  const created = await app.inject({ method: 'POST', url: '/api/v1/venues', headers: adminA, payload: venueBody({ name: 'Tenant A Only' }) })
  const id = created.json().id
  for (const request of [
    { method: 'GET' as const, url: `/api/v1/venues/${id}` },
    { method: 'PATCH' as const, url: `/api/v1/venues/${id}`, payload: { name: 'hijacked' } },
    { method: 'DELETE' as const, url: `/api/v1/venues/${id}` },
    { method: 'POST' as const, url: `/api/v1/venues/${id}/archive` },
    { method: 'GET' as const, url: `/api/v1/venues/${id}/members` },
  ]) {
    const response = await app.inject({ ...request, headers: adminB })
    assert.equal(response.statusCode, 404, `${request.method} ${request.url}`)
    assert.equal(response.json().code, 'VENUE_NOT_FOUND')
  }
  const list = await app.inject({ url: '/api/v1/venues?limit=100', headers: adminB })
  assert.ok(!list.json().data.some((v: { id: string }) => v.id === id))
  const still = await app.inject({ url: `/api/v1/venues/${id}`, headers: adminA })
  assert.equal(still.json().name, 'Tenant A Only')
})
