import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { signRequest, type InternalAuthRefusal } from '../src/index.ts'
import { buildApp, connectRedis, deleteKeys, SECRET_A1, SECRET_A2, SECRET_B1, SERVICE_A, SERVICE_B, uniquePrefix } from './helpers.ts'

const VENUE_PATH = '/internal/sync-logs/venue/4f1c2a9e-0000-4000-8000-000000000001?limit=100'

type Method = 'GET' | 'POST' | 'DELETE'

function signed(method: Method, path: string, body?: string, over: Partial<Parameters<typeof signRequest>[0]> = {}) {
  return signRequest({ service: SERVICE_A, keyId: 'k1', secret: SECRET_A1, method, pathWithQuery: path, body, ...over })
}

async function call(app: FastifyInstance, method: Method, url: string, headers: Record<string, string>, body?: string) {
  const res = await app.inject({
    method,
    url,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { payload: body }),
  })
  return { status: res.statusCode, json: res.json() as Record<string, unknown> }
}

/** Collects onRefusal events; `next()` resolves with the next one (they arrive after the reply). */
function refusalCollector() {
  const events: InternalAuthRefusal[] = []
  let waiter: ((e: InternalAuthRefusal) => void) | null = null
  return {
    events,
    onRefusal(event: InternalAuthRefusal) {
      events.push(event)
      waiter?.(event)
      waiter = null
    },
    next(): Promise<InternalAuthRefusal> {
      return new Promise((resolve) => {
        waiter = resolve
      })
    },
  }
}

describe('internal-auth verify plugin', () => {
  let redis: Redis
  let prefix: string
  let app: FastifyInstance
  const refusals = refusalCollector()

  before(async () => {
    redis = connectRedis()
    prefix = uniquePrefix()
    app = await buildApp({ redis, noncePrefix: prefix, source: 'test-receiver', onRefusal: refusals.onRefusal })
  })
  after(async () => {
    await app.close()
    await deleteKeys(redis, prefix)
    await redis.quit()
  })

  test('both published vectors pass the plugin when its clock is pinned to the vector time', async () => {
    const pinned = await buildApp({
      redis,
      noncePrefix: prefix,
      now: () => 1767225600 * 1000,
      keys: { 'compliance-service': { k1: 'test-secret-do-not-use-in-production' }, 'integration-service': { k2: 'another-test-secret' } },
      permissions: { 'compliance-service': ['sync-logs:read'], 'integration-service': ['audit-events:write'] },
    })
    try {
      const get = await call(pinned, 'GET', VENUE_PATH, {
        'x-internal-service': 'compliance-service',
        'x-internal-key-id': 'k1',
        'x-internal-timestamp': '1767225600',
        'x-internal-nonce': '00112233445566778899aabbccddeeff',
        'x-internal-signature': 'v1=6df70643a53845102f972ccc4a94ee5cc530bd08967c57ca7e710bf70ea55f12',
      })
      assert.equal(get.status, 200)
      assert.deepEqual(get.json.caller, { service: 'compliance-service', keyId: 'k1' })
      const post = await call(
        pinned,
        'POST',
        '/internal/audit-events',
        {
          'x-internal-service': 'integration-service',
          'x-internal-key-id': 'k2',
          'x-internal-timestamp': '1767225600',
          'x-internal-nonce': 'ffeeddccbbaa99887766554433221100',
          'x-internal-signature': 'v1=f2449681b16cd7f0128ba6ea19573180c8b977e16093f72ae5f4511065fef305',
        },
        '{"events":[]}',
      )
      assert.equal(post.status, 200)
      assert.deepEqual(post.json.body, { events: [] })
    } finally {
      await pinned.close()
    }
  })

  test('a valid signed GET passes and exposes the verified caller', async () => {
    const res = await call(app, 'GET', VENUE_PATH, signed('GET', VENUE_PATH))
    assert.equal(res.status, 200)
    assert.deepEqual(res.json, {
      caller: { service: SERVICE_A, keyId: 'k1' },
      venueId: '4f1c2a9e-0000-4000-8000-000000000001',
      query: { limit: '100' },
    })
  })

  test('a valid signed POST still gets its JSON body parsed, multi-byte characters included', async () => {
    const body = JSON.stringify({ events: [{ note: 'café ☕ 東京' }] })
    const res = await call(app, 'POST', '/internal/audit-events', signed('POST', '/internal/audit-events', body), body)
    assert.equal(res.status, 200)
    assert.deepEqual(res.json.body, { events: [{ note: 'café ☕ 東京' }] })
  })

  test('missing headers are refused with 401 INTERNAL_AUTH_MISSING_HEADERS, one header at a time', async () => {
    const none = await call(app, 'GET', VENUE_PATH, {})
    assert.deepEqual([none.status, none.json.code], [401, 'INTERNAL_AUTH_MISSING_HEADERS'])
    for (const name of ['x-internal-service', 'x-internal-key-id', 'x-internal-timestamp', 'x-internal-nonce', 'x-internal-signature']) {
      const headers: Record<string, string> = { ...signed('GET', VENUE_PATH) }
      delete headers[name]
      const res = await call(app, 'GET', VENUE_PATH, headers)
      assert.equal(res.status, 401, name)
      assert.equal(res.json.code, 'INTERNAL_AUTH_MISSING_HEADERS', name)
    }
  })

  test('malformed timestamp, short nonce and unversioned signature are refused as malformed headers', async () => {
    const cases: Array<Record<string, string>> = [
      { 'x-internal-timestamp': '12.5' },
      { 'x-internal-timestamp': 'yesterday' },
      { 'x-internal-nonce': '0011223344' },
      { 'x-internal-nonce': 'not a nonce with spaces!!' },
      { 'x-internal-signature': 'v2=abcdef' },
    ]
    for (const override of cases) {
      const res = await call(app, 'GET', VENUE_PATH, { ...signed('GET', VENUE_PATH), ...override })
      assert.equal(res.status, 401, JSON.stringify(override))
      assert.equal(res.json.code, 'INTERNAL_AUTH_MISSING_HEADERS', JSON.stringify(override))
    }
  })

  test('a base64url nonce of 16 bytes is accepted', async () => {
    const nonce = Buffer.from('0123456789abcdef').toString('base64url')
    const res = await call(app, 'GET', VENUE_PATH, signed('GET', VENUE_PATH, undefined, { nonce }))
    assert.equal(res.status, 200)
  })

  test('an unknown service is refused with 401 INTERNAL_AUTH_UNKNOWN_SERVICE', async () => {
    const res = await call(app, 'GET', VENUE_PATH, signed('GET', VENUE_PATH, undefined, { service: 'stranger-service' }))
    assert.deepEqual([res.status, res.json.code], [401, 'INTERNAL_AUTH_UNKNOWN_SERVICE'])
    const proto = await call(app, 'GET', VENUE_PATH, signed('GET', VENUE_PATH, undefined, { service: 'constructor' }))
    assert.deepEqual([proto.status, proto.json.code], [401, 'INTERNAL_AUTH_UNKNOWN_SERVICE'])
  })

  test('an unknown key id is refused with 401 INTERNAL_AUTH_UNKNOWN_KEY', async () => {
    const res = await call(app, 'GET', VENUE_PATH, signed('GET', VENUE_PATH, undefined, { keyId: 'k7' }))
    assert.deepEqual([res.status, res.json.code], [401, 'INTERNAL_AUTH_UNKNOWN_KEY'])
  })

  test('a timestamp more than 300 s in the past or the future is refused as stale; exactly 300 s passes', async () => {
    const nowMs = Date.now()
    const pinned = await buildApp({ redis, noncePrefix: prefix, now: () => nowMs })
    try {
      const now = Math.floor(nowMs / 1000)
      for (const timestamp of [now - 301, now + 301, now - 3600]) {
        const res = await call(pinned, 'GET', VENUE_PATH, signed('GET', VENUE_PATH, undefined, { timestamp }))
        assert.deepEqual([res.status, res.json.code], [401, 'INTERNAL_AUTH_STALE_TIMESTAMP'], String(timestamp - now))
      }
      for (const timestamp of [now - 300, now + 300]) {
        const res = await call(pinned, 'GET', VENUE_PATH, signed('GET', VENUE_PATH, undefined, { timestamp }))
        assert.equal(res.status, 200, String(timestamp - now))
      }
    } finally {
      await pinned.close()
    }
  })

  test('a wrong signature is refused with 401 INTERNAL_AUTH_BAD_SIGNATURE', async () => {
    const headers = signed('GET', VENUE_PATH)
    const flipped = headers['x-internal-signature'].slice(0, -1) + (headers['x-internal-signature'].endsWith('0') ? '1' : '0')
    for (const signature of [flipped, 'v1=00', `${headers['x-internal-signature']}ff`]) {
      const res = await call(app, 'GET', VENUE_PATH, { ...signed('GET', VENUE_PATH), 'x-internal-signature': signature })
      assert.deepEqual([res.status, res.json.code], [401, 'INTERNAL_AUTH_BAD_SIGNATURE'])
    }
  })

  test('a tampered body is refused', async () => {
    const headers = signed('POST', '/internal/audit-events', '{"events":[]}')
    const res = await call(app, 'POST', '/internal/audit-events', headers, '{"events":[1]}')
    assert.deepEqual([res.status, res.json.code], [401, 'INTERNAL_AUTH_BAD_SIGNATURE'])
    // Same JSON value, different bytes: the signature covers bytes, not meaning.
    const spaced = await call(app, 'POST', '/internal/audit-events', signed('POST', '/internal/audit-events', '{"events":[]}'), '{"events": []}')
    assert.deepEqual([spaced.status, spaced.json.code], [401, 'INTERNAL_AUTH_BAD_SIGNATURE'])
  })

  test('a tampered path is refused', async () => {
    const headers = signed('GET', '/internal/items/a')
    const res = await call(app, 'GET', '/internal/items/b', headers)
    assert.deepEqual([res.status, res.json.code], [401, 'INTERNAL_AUTH_BAD_SIGNATURE'])
  })

  test('a tampered query is refused, including an added parameter', async () => {
    const headers = signed('GET', VENUE_PATH)
    const changed = await call(app, 'GET', VENUE_PATH.replace('limit=100', 'limit=1000'), headers)
    assert.deepEqual([changed.status, changed.json.code], [401, 'INTERNAL_AUTH_BAD_SIGNATURE'])
    const added = await call(app, 'GET', `${VENUE_PATH}&tenant=other`, signed('GET', VENUE_PATH))
    assert.deepEqual([added.status, added.json.code], [401, 'INTERNAL_AUTH_BAD_SIGNATURE'])
  })

  test('a tampered method is refused (GET signature replayed as DELETE)', async () => {
    const headers = signed('GET', '/internal/items/a')
    const res = await call(app, 'DELETE', '/internal/items/a', headers)
    assert.deepEqual([res.status, res.json.code], [401, 'INTERNAL_AUTH_BAD_SIGNATURE'])
    const ok = await call(app, 'DELETE', '/internal/items/a', signed('DELETE', '/internal/items/a'))
    assert.deepEqual([ok.status, ok.json.method], [200, 'DELETE'])
  })

  test("another service's key is refused: service A's secret used while claiming service B", async () => {
    const headers = signed('POST', '/internal/audit-events', '{}', { service: SERVICE_B, keyId: 'k1', secret: SECRET_A1 })
    const res = await call(app, 'POST', '/internal/audit-events', headers, '{}')
    assert.deepEqual([res.status, res.json.code], [401, 'INTERNAL_AUTH_BAD_SIGNATURE'])
    const own = signed('POST', '/internal/audit-events', '{}', { service: SERVICE_B, keyId: 'k1', secret: SECRET_B1 })
    assert.equal((await call(app, 'POST', '/internal/audit-events', own, '{}')).status, 200)
  })

  test('a replayed request is refused with 401 INTERNAL_AUTH_REPLAY', async () => {
    const headers = signed('GET', VENUE_PATH)
    assert.equal((await call(app, 'GET', VENUE_PATH, headers)).status, 200)
    const replay = await call(app, 'GET', VENUE_PATH, headers)
    assert.deepEqual([replay.status, replay.json.code], [401, 'INTERNAL_AUTH_REPLAY'])
    const ttl = await redis.ttl(`${prefix}${SERVICE_A}:${headers['x-internal-nonce']}`)
    assert.ok(ttl > 650 && ttl <= 661, `nonce kept for the whole window a timestamp passes in (601 s) and a margin for replicas' clocks, got ${ttl}`)
  })

  test('a replay is refused across two replicas sharing one Redis', async () => {
    const replica = await buildApp({ redis, noncePrefix: prefix })
    try {
      const headers = signed('GET', VENUE_PATH)
      assert.equal((await call(app, 'GET', VENUE_PATH, headers)).status, 200)
      const replay = await call(replica, 'GET', VENUE_PATH, headers)
      assert.deepEqual([replay.status, replay.json.code], [401, 'INTERNAL_AUTH_REPLAY'])
    } finally {
      await replica.close()
    }
  })

  test('a forged request cannot burn a nonce: the nonce is only recorded once the signature holds', async () => {
    const good = signed('GET', VENUE_PATH)
    const forged = { ...good, 'x-internal-signature': `v1=${'0'.repeat(64)}` }
    assert.equal((await call(app, 'GET', VENUE_PATH, forged)).status, 401)
    assert.equal((await call(app, 'GET', VENUE_PATH, good)).status, 200)
  })

  test('a caller without the route permission gets 403 INTERNAL_AUTH_FORBIDDEN', async () => {
    const headers = signed('GET', VENUE_PATH, undefined, { service: SERVICE_B, keyId: 'k1', secret: SECRET_B1 })
    const res = await call(app, 'GET', VENUE_PATH, headers)
    assert.deepEqual([res.status, res.json.code], [403, 'INTERNAL_AUTH_FORBIDDEN'])
  })

  test('rotation: k1 and k2 both pass while configured; once k1 is removed a k1 call fails', async () => {
    assert.equal((await call(app, 'GET', VENUE_PATH, signed('GET', VENUE_PATH))).status, 200)
    assert.equal((await call(app, 'GET', VENUE_PATH, signed('GET', VENUE_PATH, undefined, { keyId: 'k2', secret: SECRET_A2 }))).status, 200)
    const rotated = await buildApp({ redis, noncePrefix: prefix, keys: { [SERVICE_A]: { k2: SECRET_A2 } } })
    try {
      const old = await call(rotated, 'GET', VENUE_PATH, signed('GET', VENUE_PATH))
      assert.deepEqual([old.status, old.json.code], [401, 'INTERNAL_AUTH_UNKNOWN_KEY'])
      const current = signed('GET', VENUE_PATH, undefined, { keyId: 'k2', secret: SECRET_A2 })
      assert.equal((await call(rotated, 'GET', VENUE_PATH, current)).status, 200)
    } finally {
      await rotated.close()
    }
  })

  test("a signed body over the route's bodyLimit is refused with 413, declared or streamed", async () => {
    const body = JSON.stringify({ pad: 'x'.repeat(200) })
    const res = await call(app, 'POST', '/internal/small', signed('POST', '/internal/small', body), body)
    assert.deepEqual([res.status, res.json.code], [413, 'PAYLOAD_TOO_LARGE'])

    // Chunked upload (no content-length) over a real socket: the limit is enforced while reading
    // and the 413 still reaches the caller instead of a dropped connection.
    const server = await buildApp({ redis, noncePrefix: prefix })
    try {
      const address = await server.listen({ port: 0, host: '127.0.0.1' })
      const response = await request(`${address}/internal/small`, {
        method: 'POST',
        headers: { ...signed('POST', '/internal/small', body), 'content-type': 'application/json' },
        body: Readable.from([Buffer.from(body.slice(0, 100)), Buffer.from(body.slice(100))]),
      })
      assert.equal(response.statusCode, 413)
      assert.equal(((await response.body.json()) as { code: string }).code, 'PAYLOAD_TOO_LARGE')
    } finally {
      await server.close()
    }
  })

  test('routes that do not opt in are untouched and have no internal caller', async () => {
    const res = await call(app, 'POST', '/public/echo', {}, '{"a":1}')
    assert.deepEqual(res, { status: 200, json: { caller: null, body: { a: 1 } } })
  })

  test('onRefusal receives a complete security event without the signature', async () => {
    const headers = signed('GET', VENUE_PATH)
    const forged = { ...headers, 'x-internal-signature': `v1=${'a'.repeat(64)}` }
    const next = refusals.next()
    const res = await call(app, 'GET', VENUE_PATH, forged)
    assert.equal(res.status, 401)
    const event = await next
    assert.match(event.id, /^[0-9a-f-]{36}$/)
    assert.ok(!Number.isNaN(Date.parse(event.occurredAt)))
    assert.deepEqual(
      { type: event.type, severity: event.severity, source: event.source, code: event.code, actor: event.actor, method: event.method, path: event.path },
      { type: 'INVALID_SIGNATURE', severity: 'high', source: 'test-receiver', code: 'INTERNAL_AUTH_BAD_SIGNATURE', actor: null, method: 'GET', path: VENUE_PATH },
    )
    assert.equal(typeof event.ip, 'string')
    assert.equal(typeof event.requestId, 'string')
    assert.deepEqual(event.details, { claimedService: SERVICE_A, keyId: 'k1', timestamp: headers['x-internal-timestamp'], nonce: headers['x-internal-nonce'] })
    assert.ok(!JSON.stringify(event).includes('a'.repeat(64)), 'the signature is never part of the event')
    assert.ok(!JSON.stringify(event).includes(SECRET_A1))

    const replayNext = refusals.next()
    assert.equal((await call(app, 'GET', VENUE_PATH, headers)).status, 200)
    assert.equal((await call(app, 'GET', VENUE_PATH, headers)).status, 401)
    const replay = await replayNext
    assert.deepEqual([replay.type, replay.code, replay.actor], ['REPLAY', 'INTERNAL_AUTH_REPLAY', SERVICE_A], 'a replay carries a valid signature: its service is proven')

    const forbiddenNext = refusals.next()
    await call(app, 'GET', VENUE_PATH, signed('GET', VENUE_PATH, undefined, { service: SERVICE_B, secret: SECRET_B1 }))
    const forbidden = await forbiddenNext
    assert.deepEqual([forbidden.type, forbidden.code, forbidden.actor, forbidden.details], ['FORBIDDEN', 'INTERNAL_AUTH_FORBIDDEN', SERVICE_B, { keyId: 'k1', permission: 'sync-logs:read' }])

    const missingNext = refusals.next()
    await call(app, 'GET', VENUE_PATH, {})
    const missing = await missingNext
    assert.deepEqual([missing.type, missing.code, missing.actor], ['AUTH_FAILURE', 'INTERNAL_AUTH_MISSING_HEADERS', null])
  })

  test('an unproven caller is never the actor: the service it claims is only a detail, whatever the refusal', async () => {
    const claims: Array<[string, Record<string, string>]> = [
      ['INTERNAL_AUTH_MISSING_HEADERS', { 'x-internal-service': 'attacker-1' }],
      ['INTERNAL_AUTH_MISSING_HEADERS', { ...signed('GET', VENUE_PATH), 'x-internal-service': 'attacker-2', 'x-internal-nonce': 'short' }],
      ['INTERNAL_AUTH_UNKNOWN_SERVICE', signed('GET', VENUE_PATH, undefined, { service: 'attacker-3' })],
      ['INTERNAL_AUTH_UNKNOWN_KEY', signed('GET', VENUE_PATH, undefined, { keyId: 'k9' })],
      ['INTERNAL_AUTH_STALE_TIMESTAMP', signed('GET', VENUE_PATH, undefined, { timestamp: Math.floor(Date.now() / 1000) - 3600 })],
      ['INTERNAL_AUTH_BAD_SIGNATURE', signed('GET', VENUE_PATH, undefined, { service: SERVICE_B, secret: SECRET_A1 })],
    ]
    for (const [code, headers] of claims) {
      const next = refusals.next()
      const res = await call(app, 'GET', VENUE_PATH, headers)
      assert.deepEqual([res.status, res.json.code], [401, code])
      const event = await next
      assert.equal(event.actor, null, `${code}: a name anyone can send must not pick the reporter's aggregation key`)
      assert.equal(event.details?.claimedService, headers['x-internal-service'], code)
    }
  })

  test('a throwing or rejecting onRefusal does not change the 401', async () => {
    let calls = 0
    const throwing = await buildApp({
      redis,
      noncePrefix: prefix,
      onRefusal: () => {
        calls++
        throw new Error('reporter exploded')
      },
    })
    const rejecting = await buildApp({
      redis,
      noncePrefix: prefix,
      onRefusal: async () => {
        calls++
        throw new Error('reporter rejected')
      },
    })
    try {
      for (const target of [throwing, rejecting]) {
        const res = await call(target, 'GET', VENUE_PATH, { ...signed('GET', VENUE_PATH), 'x-internal-key-id': 'nope' })
        assert.deepEqual([res.status, res.json.code], [401, 'INTERNAL_AUTH_UNKNOWN_KEY'])
      }
      await new Promise((resolve) => setImmediate(resolve))
      assert.equal(calls, 2, 'both callbacks ran')
    } finally {
      await throwing.close()
      await rejecting.close()
    }
  })

  test('when Redis cannot record the nonce the request fails closed with 503, after the signature check', async () => {
    const { Redis } = await import('ioredis')
    const down = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null })
    down.on('error', () => {}) // connection errors are expected here; the assertion is on the answer
    const isolated = await buildApp({ redis: down, noncePrefix: prefix })
    try {
      const res = await call(isolated, 'GET', VENUE_PATH, signed('GET', VENUE_PATH))
      assert.deepEqual([res.status, res.json.code], [503, 'INTERNAL_AUTH_NONCE_STORE_UNAVAILABLE'])
      const forged = await call(isolated, 'GET', VENUE_PATH, { ...signed('GET', VENUE_PATH), 'x-internal-signature': `v1=${'0'.repeat(64)}` })
      assert.deepEqual([forged.status, forged.json.code], [401, 'INTERNAL_AUTH_BAD_SIGNATURE'])
    } finally {
      await isolated.close()
      down.disconnect()
    }
  })

  test('a route that opts in without a permission is refused at registration', async () => {
    const Fastify = (await import('fastify')).default
    const { internalAuth } = await import('../src/index.ts')
    const bare = Fastify()
    await bare.register(internalAuth, { keys: {}, permissions: {}, redis, noncePrefix: prefix })
    assert.throws(() => bare.get('/internal/x', { config: { internalAuth: { permission: '' } } }, async () => 'ok'), /needs config.internalAuth.permission/)
    await bare.close()
  })
})
