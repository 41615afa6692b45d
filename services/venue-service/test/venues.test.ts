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

test('an archived venue is read-only until restored: changes and member edits answer 409 VENUE_ARCHIVED, delete still works', async () => {
  const app = await build()
  const created = await app.inject({ method: 'POST', url: '/api/v1/venues', headers: adminA, payload: venueBody({ name: 'Archive Rules Hall' }) })
  const id = created.json().id as string
  assert.equal((await app.inject({ method: 'PUT', url: `/api/v1/venues/${id}/members/u1`, headers: adminA, payload: { role: 'viewer' } })).statusCode, 200)
  const archived = await app.inject({ method: 'POST', url: `/api/v1/venues/${id}/archive`, headers: adminA })
  assert.equal(archived.json().status, 'archived')
  const manager = bearer(testToken({ tenantId: tenantA, roles: ['manager'], venueIds: [id] }))

  for (const [headers, request] of [
    [adminA, { method: 'PATCH' as const, url: `/api/v1/venues/${id}`, payload: { name: 'Edited while archived' } }],
    [manager, { method: 'PATCH' as const, url: `/api/v1/venues/${id}`, payload: { capacity: 1 } }],
    [adminA, { method: 'PUT' as const, url: `/api/v1/venues/${id}/members/u1`, payload: { role: 'manager' } }],
    [manager, { method: 'PUT' as const, url: `/api/v1/venues/${id}/members/u2`, payload: { role: 'viewer' } }],
    [adminA, { method: 'DELETE' as const, url: `/api/v1/venues/${id}/members/u1` }],
  ] as const) {
    const response = await app.inject({ ...request, headers })
    assert.equal(response.statusCode, 409, `${request.method} ${request.url}: ${response.body}`)
    assert.equal(response.json().code, 'VENUE_ARCHIVED')
    assert.match(String(response.headers['content-type']), /application\/problem\+json/)
  }
  // A viewer is refused for its role first: the archive does not tell it more than a 403 would.
  assert.equal((await app.inject({ method: 'PATCH', url: `/api/v1/venues/${id}`, headers: viewerA, payload: { name: 'No' } })).statusCode, 403)

  // Nothing changed: the venue, its members and the audit trail are as they were at the archive.
  const stored = await app.inject({ url: `/api/v1/venues/${id}`, headers: viewerA })
  assert.deepEqual(stored.json(), archived.json())
  const members = await app.inject({ url: `/api/v1/venues/${id}/members`, headers: adminA })
  assert.deepEqual(
    members.json().data.map((m: { userId: string; role: string }) => [m.userId, m.role]),
    [['u1', 'viewer']],
  )
  const audit = await db.adminQuery<{ action: string }>(`select action from venue.audit_outbox where entity_id in ($1, $2) order by action`, [id, `${id}:u1`])
  assert.deepEqual(
    audit.map((row) => row.action),
    ['venue.archived', 'venue.created', 'venue.member.added'],
  )

  // Archiving again is a no-op; restoring makes the venue writable again; an archived venue can be deleted.
  assert.equal((await app.inject({ method: 'POST', url: `/api/v1/venues/${id}/archive`, headers: manager })).statusCode, 200)
  const restored = await app.inject({ method: 'POST', url: `/api/v1/venues/${id}/restore`, headers: manager })
  assert.equal(restored.statusCode, 200)
  assert.equal(restored.json().status, 'active')
  assert.equal(restored.json().archivedAt, null)
  const renamed = await app.inject({ method: 'PATCH', url: `/api/v1/venues/${id}`, headers: manager, payload: { name: 'Edited after restore' } })
  assert.equal(renamed.statusCode, 200, renamed.body)
  assert.equal((await app.inject({ method: 'PUT', url: `/api/v1/venues/${id}/members/u2`, headers: manager, payload: { role: 'viewer' } })).statusCode, 200)
  assert.equal((await app.inject({ method: 'POST', url: `/api/v1/venues/${id}/archive`, headers: adminA })).statusCode, 200)
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/venues/${id}`, headers: adminA })).statusCode, 204)

  const openapi = (await app.inject({ url: '/openapi.json' })).json()
  for (const [path, method] of [
    ['/api/v1/venues/{id}', 'patch'],
    ['/api/v1/venues/{id}/members/{userId}', 'put'],
    ['/api/v1/venues/{id}/members/{userId}', 'delete'],
  ] as const) {
    assert.ok(openapi.paths[path][method].responses['409'], `${method} ${path} declares its 409`)
  }
})

test('accepts every IANA zone the runtime can format, current names included, stored as given; refuses unknown, malformed and over-long ones', async () => {
  const app = await build()
  const tenant = randomUUID()
  const admin = bearer(testToken({ tenantId: tenant, roles: ['admin'] }))
  const zones = ['Asia/Kolkata', 'Europe/Kyiv', 'America/Argentina/Buenos_Aires', 'Asia/Ho_Chi_Minh', 'Etc/GMT+5', 'Etc/GMT-14', 'America/Nuuk', 'Pacific/Kanton', 'Asia/Calcutta', 'Europe/London', 'UTC', 'Etc/UTC']
  for (const [i, timezone] of zones.entries()) {
    const response = await app.inject({ method: 'POST', url: '/api/v1/venues', headers: admin, payload: venueBody({ name: `Zone ${i}`, timezone }) })
    assert.equal(response.statusCode, 201, `${timezone}: ${response.body}`)
    assert.equal(response.json().timezone, timezone, 'stored as given, not rewritten to a legacy alias')
    // The zone must work wherever the hub uses it: Intl (and so luxon and Bull's cron `tz`).
    assert.doesNotThrow(() => new Intl.DateTimeFormat('en-US', { timeZone: response.json().timezone }).format(0))
  }
  const first = (await app.inject({ url: '/api/v1/venues?limit=1&sort=created_at', headers: admin })).json().data[0]
  const moved = await app.inject({ method: 'PATCH', url: `/api/v1/venues/${first.id}`, headers: admin, payload: { timezone: 'Europe/Kyiv' } })
  assert.equal(moved.statusCode, 200, moved.body)
  assert.equal(moved.json().timezone, 'Europe/Kyiv')

  for (const timezone of ['Mars/Olympus', 'Foo/Bar', 'Etc/Unknown', 'Factory', '+05:30', 'Asia/Kolkata ', ' UTC', '../etc/passwd', 'Europe//London', 'Europe/London/', 'Europe\\London', 'Asia/Kolkata\u0001']) {
    const response = await app.inject({ method: 'POST', url: '/api/v1/venues', headers: admin, payload: venueBody({ name: 'Bad Zone', slug: 'bad-zone', timezone }) })
    assert.equal(response.statusCode, 400, `${JSON.stringify(timezone)}: ${response.body}`)
    assert.equal(response.json().code, 'INVALID_TIMEZONE', JSON.stringify(timezone))
    const patched = await app.inject({ method: 'PATCH', url: `/api/v1/venues/${first.id}`, headers: admin, payload: { timezone } })
    assert.equal(patched.statusCode, 400, `PATCH ${JSON.stringify(timezone)}: ${patched.body}`)
  }
  const tooLong = await app.inject({ method: 'POST', url: '/api/v1/venues', headers: admin, payload: venueBody({ name: 'Long Zone', timezone: `America/${'A'.repeat(60)}` }) })
  assert.equal(tooLong.statusCode, 400)
  assert.ok(tooLong.json().errors.some((e: { path: string }) => e.path === '/body/timezone'))
})

test('pages sorted by name reach the end when names are 200 Cyrillic, astral, dotted-I or control characters long', async () => {
  const app = await build()
  const tenant = randomUUID()
  const admin = bearer(testToken({ tenantId: tenant, roles: ['admin'] }))
  // Each is the longest name there is (200 characters); 'İ' lowers to two characters, '😀' is two
  // UTF-16 units, and a control character is six bytes of JSON in the cursor.
  const names = ['Ж', '😀', 'İ', '\u0001'].flatMap((c) => [c.repeat(199) + 'a', c.repeat(199) + 'b'])
  for (const [i, name] of names.entries()) {
    const response = await app.inject({ method: 'POST', url: '/api/v1/venues', headers: admin, payload: venueBody({ name, slug: `long-${i}` }) })
    assert.equal(response.statusCode, 201, response.body)
  }
  for (const sort of ['name', '-name']) {
    const all = (await app.inject({ url: `/api/v1/venues?limit=100&sort=${sort}`, headers: admin })).json().data.map((v: { name: string }) => v.name)
    assert.equal(all.length, names.length)
    const seen: string[] = []
    let cursor: string | null = null
    let longest = 0
    do {
      const response: Awaited<ReturnType<typeof app.inject>> = await app.inject({ url: `/api/v1/venues?limit=1&sort=${sort}${cursor ? `&cursor=${cursor}` : ''}`, headers: admin })
      assert.equal(response.statusCode, 200, `${sort} after ${seen.length}: ${response.body}`)
      seen.push(...response.json().data.map((v: { name: string }) => v.name))
      cursor = response.json().nextCursor
      longest = Math.max(longest, cursor?.length ?? 0)
    } while (cursor)
    assert.deepEqual(seen, all, `${sort}: every venue once, in order`)
    assert.ok(longest > 1024, `the control-character names issue cursors of ${longest} characters`)
  }
})
