import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Type } from '@sinclair/typebox'
import { CursorField, createFastify, encodeCursor, isTimezone, readCursor, serviceKit } from '../src/index.ts'

async function build() {
  const app = createFastify({ service: 'guard-test', logLevel: 'silent' })
  await app.register(serviceKit, { service: 'guard-test' })
  const Item = Type.Object({ name: Type.String(), slug: Type.Optional(Type.String()), capacity: Type.Optional(Type.Integer()), nested: Type.Optional(Type.Unknown()) }, { additionalProperties: false })
  const Query = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }), open: Type.Optional(Type.Boolean()), q: Type.Optional(Type.String()), cursor: Type.Optional(Type.String()) })
  app.post('/items', { schema: { body: Item, response: { 200: Item } } }, async (request) => request.body)
  app.get('/items', { schema: { querystring: Query } }, async (request) => {
    const q = request.query as { limit: number; open?: boolean; cursor?: string }
    if (q.cursor) readCursor(q.cursor, Type.Object({ at: CursorField.timestamp(), id: CursorField.uuid(), seq: CursorField.int64() }))
    return { limit: q.limit, open: q.open ?? null }
  })
  await app.ready()
  return app
}

test('JSON bodies are not coerced: numbers, arrays and booleans where strings or integers belong are 400', async (t) => {
  const app = await build()
  t.after(() => app.close())
  const response = await app.inject({ method: 'POST', url: '/items', payload: { name: 12345, slug: ['x'], capacity: true } })
  assert.equal(response.statusCode, 400)
  assert.equal(response.json().code, 'VALIDATION_FAILED')
  const paths = (response.json().errors as Array<{ path: string }>).map((e) => e.path).sort()
  assert.deepEqual(paths, ['/body/capacity', '/body/name', '/body/slug'])
  assert.equal((await app.inject({ method: 'POST', url: '/items', payload: { name: 'ok', capacity: 3 } })).statusCode, 200)
})

test('query values convert only when they are exactly the declared type', async (t) => {
  const app = await build()
  t.after(() => app.close())
  assert.deepEqual((await app.inject({ url: '/items?limit=16&open=true' })).json(), { limit: 16, open: true })
  assert.deepEqual((await app.inject({ url: '/items' })).json(), { limit: 20, open: null })
  for (const bad of ['limit=0x10', 'limit=1e1', 'limit=%2016', 'limit=', 'limit=1.5', 'limit=1&limit=2', 'open=1', 'open=yes']) {
    const response = await app.inject({ url: `/items?${bad}` })
    assert.equal(response.statusCode, 400, bad)
    assert.equal(response.headers['content-type'], 'application/problem+json')
  }
})

test('NUL bytes and lone surrogates anywhere in body, query or keys are 400 INVALID_STRING', async (t) => {
  const app = await build()
  t.after(() => app.close())
  const bodies = ['{"name":"a\\u0000b"}', '{"name":"\\ud800"}', '{"name":"x","nested":{"deep":["\\udc00"]}}', '{"name":"x","nested":{"k\\u0000":1}}']
  for (const payload of bodies) {
    const response = await app.inject({ method: 'POST', url: '/items', headers: { 'content-type': 'application/json' }, payload })
    assert.equal(response.statusCode, 400, payload)
    assert.equal(response.json().code, 'INVALID_STRING', payload)
  }
  assert.equal((await app.inject({ url: '/items?q=a%00b' })).json().code, 'INVALID_STRING')
  // A surrogate pair is a real character (an emoji) and passes.
  assert.equal((await app.inject({ method: 'POST', url: '/items', headers: { 'content-type': 'application/json' }, payload: '{"name":"\\ud83d\\ude00"}' })).statusCode, 200)
})

test('bodies nested thousands deep are refused before parsing, and prototype keys are refused', async (t) => {
  const app = await build()
  t.after(() => app.close())
  const deep = `{"name":"x","nested":${'['.repeat(5000)}${']'.repeat(5000)}}`
  const response = await app.inject({ method: 'POST', url: '/items', headers: { 'content-type': 'application/json' }, payload: deep })
  assert.equal(response.statusCode, 400)
  assert.equal(response.json().code, 'JSON_TOO_DEEP')
  // Brackets inside strings do not count.
  assert.equal((await app.inject({ method: 'POST', url: '/items', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ name: '['.repeat(500) }) })).statusCode, 200)
  for (const payload of ['{"name":"x","__proto__":{"a":1}}', '{"name":"x","nested":{"constructor":{"prototype":{}}}}', '{"name":', '']) {
    const refused = await app.inject({ method: 'POST', url: '/items', headers: { 'content-type': 'application/json' }, payload })
    assert.equal(refused.statusCode, 400, payload)
    assert.equal(refused.json().code, 'INVALID_JSON', payload)
  }
})

test('a cursor of the right shape with contents the database would refuse is 400 INVALID_CURSOR', async (t) => {
  const app = await build()
  t.after(() => app.close())
  const id = '0b7e8d1c-4c3f-4f4e-9a1b-2c3d4e5f6a7b'
  const good = encodeCursor({ at: '2026-01-02T03:04:05.123456Z', id, seq: '42' })
  assert.equal((await app.inject({ url: `/items?cursor=${good}` })).statusCode, 200)
  assert.equal((await app.inject({ url: `/items?cursor=${encodeCursor({ at: '2026-01-02 03:04:05.1+00', id, seq: '1' })}` })).statusCode, 200)
  const tampered = [
    { at: '0000-01-01T00:00:00Z', id, seq: '1' },
    { at: '10000-01-01T00:00:00Z', id, seq: '1' },
    { at: '2026-02-30T00:00:00Z', id, seq: '1' },
    { at: 'yesterday', id, seq: '1' },
    { at: '2026-01-02T03:04:05Z', id: 'not-a-uuid-but-36-characters-long-xx', seq: '1' },
    { at: '2026-01-02T03:04:05Z', id, seq: '9223372036854775808' },
    { at: '2026-01-02T03:04:05Z', id, seq: '-1' },
  ]
  for (const value of tampered) {
    const response = await app.inject({ url: `/items?cursor=${encodeCursor(value)}` })
    assert.equal(response.statusCode, 400, JSON.stringify(value))
    assert.equal(response.json().code, 'INVALID_CURSOR', JSON.stringify(value))
  }
})

test('a uuid is the plain form Postgres takes: a urn:uuid: prefix is a 400 at validation, not a database error', async (t) => {
  const app = createFastify({ service: 'guard-test', logLevel: 'silent' })
  await app.register(serviceKit, { service: 'guard-test' })
  app.get('/things/:id', { schema: { params: Type.Object({ id: Type.String({ format: 'uuid' }) }) } }, async () => ({ ok: true }))
  await app.ready()
  t.after(() => app.close())
  assert.equal((await app.inject({ url: '/things/4f1c2a9e-0000-4000-8000-00000000000A' })).statusCode, 200)
  for (const bad of ['urn:uuid:4f1c2a9e-0000-4000-8000-000000000001', '{4f1c2a9e-0000-4000-8000-000000000001}', '4f1c2a9e000040008000000000000001', 'not-a-uuid']) {
    const response = await app.inject({ url: `/things/${encodeURIComponent(bad)}` })
    assert.equal(response.statusCode, 400, bad)
    assert.equal(response.json().code, 'VALIDATION_FAILED', bad)
  }
})

test('a date-time outside years 0001-9999 is a 400 at validation, not a database error', async (t) => {
  const app = createFastify({ service: 'guard-test', logLevel: 'silent' })
  await app.register(serviceKit, { service: 'guard-test' })
  app.get('/period', { schema: { querystring: Type.Object({ from: Type.String({ format: 'date-time' }) }) } }, async () => ({ ok: true }))
  await app.ready()
  t.after(() => app.close())
  assert.equal((await app.inject({ url: '/period?from=2026-01-02T03:04:05.123Z' })).statusCode, 200)
  assert.equal((await app.inject({ url: '/period?from=2026-01-02T03:04:05%2B02:00' })).statusCode, 200)
  for (const bad of ['0000-01-01T00:00:00Z', '10000-01-01T00:00:00Z', '2026-02-30T00:00:00Z', '2026-01-01', 'yesterday']) {
    const response = await app.inject({ url: `/period?from=${encodeURIComponent(bad)}` })
    assert.equal(response.statusCode, 400, bad)
    assert.equal(response.json().code, 'VALIDATION_FAILED', bad)
  }
})

test('a time zone is any IANA name the runtime can format, current names included; offsets, paths and unknown names are not', () => {
  for (const zone of ['UTC', 'Etc/UTC', 'Europe/London', 'Asia/Kolkata', 'Asia/Calcutta', 'Europe/Kyiv', 'America/Argentina/Buenos_Aires', 'Etc/GMT+5', 'America/Port-au-Prince']) assert.ok(isTimezone(zone), zone)
  for (const bad of ['Mars/Olympus', '+05:30', 'Europe/../London', '/Europe/London', ' Europe/London', 'Europe/London\u0000', '', `Europe/${'x'.repeat(70)}`]) assert.equal(isTimezone(bad), false, JSON.stringify(bad))
})
