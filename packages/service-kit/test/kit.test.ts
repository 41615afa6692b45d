import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { Type } from '@sinclair/typebox'
import { createSigner } from 'fast-jwt'
import { ForbiddenError, type SecurityEventInput, type SecurityEventReporter } from '@hub/contracts'
import { COMMON_SECRETS, CommonEnv, ConfigError, DatabaseEnv, createFastify, mintDevToken, parseConfig, serviceKit } from '../src/index.ts'
import { TEST_JWT, bearer } from '../src/testing/index.ts'

const Env = Type.Object({ ...CommonEnv, ...DatabaseEnv, PORT: Type.Integer({ minimum: 1, maximum: 65535 }) })

test('configuration: every bad or missing variable is named in one error, without its value', () => {
  try {
    parseConfig(Env, { PORT: 'ninety', DATABASE_URL: 'mysql://nope', LOG_LEVEL: 'loud', INTERNAL_AUTH_KEYS: '{"svc":{"k1":"short"}}', REDIS_URL: 'redis://127.0.0.1:6379' }, { secrets: COMMON_SECRETS })
    assert.fail('should refuse')
  } catch (error) {
    assert.ok(error instanceof ConfigError, 'a ConfigError')
    const message = (error as ConfigError).message
    for (const name of ['PORT', 'DATABASE_URL', 'LOG_LEVEL', 'INTERNAL_AUTH_KEYS']) assert.match(message, new RegExp(name), `names ${name}`)
    assert.ok(!message.includes('mysql://nope'), 'does not echo values')
  }
  assert.throws(() => parseConfig(Env, { PORT: '1', DATABASE_URL: 'postgres://x', INTERNAL_AUTH_KEYS: JSON.stringify({ a: { k1: 'a-long-enough-secret-1' } }) }), /JWT_SECRET or JWT_JWKS_URL/)
})

test('production refuses development secrets and shared-secret JWTs', () => {
  const env = {
    NODE_ENV: 'production',
    PORT: '80',
    DATABASE_URL: 'postgres://db/hub',
    JWT_SECRET: 'dev-only-0123456789abcdef0123456789abcdef',
    INTERNAL_AUTH_KEYS: JSON.stringify({ a: { k1: 'dev-only-internal-secret' } }),
  }
  assert.throws(
    () => parseConfig(Env, env, { secrets: COMMON_SECRETS }),
    (error: Error) => /JWT_SECRET: a development secret/.test(error.message) && /INTERNAL_AUTH_KEYS: a development secret/.test(error.message) && /JWT_JWKS_URL/.test(error.message),
  )
  const ok = parseConfig(Env, { ...env, JWT_SECRET: undefined, JWT_JWKS_URL: 'https://auth.example.com/.well-known/jwks.json', INTERNAL_AUTH_KEYS: JSON.stringify({ a: { k1: 'a-real-production-secret' } }) }, { secrets: COMMON_SECRETS })
  assert.equal(ok.NODE_ENV, 'production')
})

test('JWKS: RS256 tokens from the key set pass; wrong key, wrong algorithm and shared secrets fail', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'key-1', alg: 'RS256', use: 'sig' }
  const jwks = createServer((_request, response) => {
    response.setHeader('content-type', 'application/json')
    response.end(JSON.stringify({ keys: [jwk] }))
  })
  jwks.listen(0, '127.0.0.1')
  await once(jwks, 'listening')
  t.after(() => jwks.close())
  const address = jwks.address() as { port: number }
  const app = createFastify({ service: 'jwks-test', logLevel: 'silent' })
  // The event-loop guard is off (its own test proves it): on a loaded box the first ready() can
  // stall the loop past its 2 s limit, and the next request would get 503 before its token is read.
  await app.register(serviceKit, { service: 'jwks-test', maxEventLoopDelayMs: 0, jwt: { jwksUrl: `http://127.0.0.1:${address.port}/.well-known/jwks.json`, issuer: 'https://auth.example.com/', audience: 'venue-hub' } })
  app.get('/api/whoami', async (request) => request.principal)
  t.after(() => app.close())
  const claims = { sub: 'user-1', tenant_id: randomUUID(), roles: ['viewer'] }
  const sign = (key: string, kid = 'key-1', iss = 'https://auth.example.com/') => createSigner({ key, algorithm: 'RS256', kid, iss, aud: 'venue-hub', expiresIn: 60_000 })(claims)
  const good = await app.inject({ url: '/api/whoami', headers: bearer(sign(privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)) })
  assert.equal(good.statusCode, 200, good.body)
  assert.equal(good.json().tenantId, claims.tenant_id)
  const forged = await app.inject({ url: '/api/whoami', headers: bearer(sign(other.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)) })
  assert.equal(forged.statusCode, 401)
  const wrongIssuer = await app.inject({ url: '/api/whoami', headers: bearer(sign(privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 'key-1', 'https://evil.example.com/')) })
  assert.equal(wrongIssuer.statusCode, 401)
  const hs = await app.inject({ url: '/api/whoami', headers: bearer(mintDevToken({ ...TEST_JWT, tenantId: claims.tenant_id, roles: ['admin'] })) })
  assert.equal(hs.statusCode, 401, 'a shared-secret token is refused when keys come from a JWKS')
})

test('JWKS beside a development secret: provider ES256 tokens and HS256 dev tokens pass, each with its own issuer only; namespaced claims map to tenant, roles and venues', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'ec-1', alg: 'ES256', use: 'sig' }
  const jwks = createServer((_request, response) => {
    response.setHeader('content-type', 'application/json')
    response.end(JSON.stringify({ keys: [jwk] }))
  })
  jwks.listen(0, '127.0.0.1')
  await once(jwks, 'listening')
  t.after(() => jwks.close())
  const { port } = jwks.address() as { port: number }
  const providerIssuer = `http://127.0.0.1:${port}`
  const namespace = 'https://hub.example.com/'
  const app = createFastify({ service: 'mixed-test', logLevel: 'silent' })
  await app.register(serviceKit, {
    service: 'mixed-test',
    maxEventLoopDelayMs: 0,
    jwt: { secret: TEST_JWT.secret, issuer: TEST_JWT.issuer, audience: TEST_JWT.audience, jwksUrl: `${providerIssuer}/jwks`, jwksIssuer: providerIssuer, claimsNamespace: namespace },
  })
  app.get('/api/whoami', async (request) => request.principal)
  t.after(() => app.close())
  const tenantId = randomUUID()
  const venueId = randomUUID()
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string
  const providerToken = (iss: string, claims: Record<string, unknown>) => createSigner({ key: pem, algorithm: 'ES256', kid: 'ec-1', iss, aud: TEST_JWT.audience, expiresIn: 60_000 })({ sub: 'oidc-user-1', ...claims })
  const namespaced = { [`${namespace}tenant_id`]: tenantId, [`${namespace}roles`]: ['manager'], [`${namespace}venue_ids`]: [venueId.toUpperCase()] }

  const provider = await app.inject({ url: '/api/whoami', headers: bearer(providerToken(providerIssuer, namespaced)) })
  assert.equal(provider.statusCode, 200, provider.body)
  assert.deepEqual(provider.json(), { userId: 'oidc-user-1', tenantId, roles: ['manager'], venueIds: [venueId] })
  const plain = await app.inject({ url: '/api/whoami', headers: bearer(providerToken(providerIssuer, { tenant_id: tenantId, roles: ['viewer'] })) })
  assert.equal(plain.statusCode, 200, plain.body)
  assert.deepEqual(plain.json().roles, ['viewer'])
  const dev = await app.inject({ url: '/api/whoami', headers: bearer(mintDevToken({ ...TEST_JWT, tenantId, roles: ['admin'] })) })
  assert.equal(dev.statusCode, 200, 'HS256 development tokens keep working')
  // The provider's key does not vouch for the development issuer, nor the secret for the provider's.
  assert.equal((await app.inject({ url: '/api/whoami', headers: bearer(providerToken(TEST_JWT.issuer, namespaced)) })).statusCode, 401)
  const forgedDev = createSigner({ key: TEST_JWT.secret, algorithm: 'HS256', iss: providerIssuer, aud: TEST_JWT.audience, expiresIn: 60_000 })({ sub: 'x', tenant_id: tenantId, roles: ['admin'] })
  assert.equal((await app.inject({ url: '/api/whoami', headers: bearer(forgedDev) })).statusCode, 401)
  // Without the hub's claims the provider's token grants nothing.
  assert.equal((await app.inject({ url: '/api/whoami', headers: bearer(providerToken(providerIssuer, {})) })).statusCode, 401)
})

test('production refuses a development secret beside the JWKS', () => {
  const env = {
    NODE_ENV: 'production',
    PORT: '80',
    DATABASE_URL: 'postgres://db/hub',
    JWT_JWKS_URL: 'https://auth.example.com/jwks',
    JWT_SECRET: 'a-real-looking-secret-0123456789abcdef',
    INTERNAL_AUTH_KEYS: JSON.stringify({ a: { k1: 'a-real-production-secret' } }),
  }
  assert.throws(() => parseConfig(Env, env, { secrets: COMMON_SECRETS }), /JWT_SECRET: production accepts only the JWKS-signed tokens/)
})

test('graceful shutdown lets in-flight requests finish', async () => {
  const app = createFastify({ service: 'shutdown-test', logLevel: 'silent' })
  await app.register(serviceKit, { service: 'shutdown-test' })
  let arrived!: () => void
  const inHandler = new Promise<void>((resolve) => (arrived = resolve))
  app.get('/slow', { config: { auth: false } }, async () => {
    arrived()
    await sleep(300)
    return { done: true }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const inFlight = fetch(`http://127.0.0.1:${port}/slow`)
  // Close only once the request is being handled: one that arrives after close() is refused 503.
  await inHandler
  const closing = app.close()
  const response = await inFlight
  assert.equal(response.status, 200)
  assert.deepEqual(await response.json(), { done: true })
  assert.equal(response.headers.get('connection'), 'close', 'the keep-alive client is asked to hang up')
  // Not held open until the keep-alive timeout (72 s) by the client's idle socket.
  const closed = await Promise.race([closing.then(() => 'closed'), sleep(5_000).then(() => 'still open')])
  assert.equal(closed, 'closed')
})

test('every 403 leaves exactly one FORBIDDEN security event, whether a role guard or the service refused', async () => {
  const events: Array<Partial<SecurityEventInput>> = []
  const reporter: SecurityEventReporter = { report: (event) => void events.push(event) }
  const app = createFastify({ service: 'refusals-test', logLevel: 'silent' })
  await app.register(serviceKit, { service: 'refusals-test', jwt: { secret: TEST_JWT.secret, issuer: TEST_JWT.issuer, audience: TEST_JWT.audience }, securityEvents: reporter })
  app.get('/admin-only', { config: { auth: { roles: ['admin'] } } }, async () => ({ ok: true }))
  app.get('/api/venue/:id', async () => {
    throw new ForbiddenError('VENUE_ACCESS_DENIED', 'Not your venue.')
  })
  await app.ready()
  const tenantId = randomUUID()
  const viewer = bearer(mintDevToken({ ...TEST_JWT, tenantId, roles: ['viewer'], sub: 'viewer-7' }))
  assert.equal((await app.inject({ url: '/admin-only', headers: viewer })).statusCode, 403)
  assert.equal((await app.inject({ url: '/api/venue/1?x=secret-query', headers: viewer })).statusCode, 403)
  assert.deepEqual(
    events.map((event) => [event.type, event.code, event.source, event.tenantId, event.actor, event.path]),
    [
      ['FORBIDDEN', 'INSUFFICIENT_ROLE', 'refusals-test', tenantId, 'viewer-7', '/admin-only'],
      ['FORBIDDEN', 'VENUE_ACCESS_DENIED', 'refusals-test', tenantId, 'viewer-7', '/api/venue/1'],
    ],
  )
  await app.close()
})

test('a stalled event loop answers 503 UNDER_PRESSURE (problem+json) until it recovers; 0 turns the guard off', async () => {
  const build = async (maxEventLoopDelayMs: number) => {
    const app = createFastify({ service: 'pressure-test', logLevel: 'silent' })
    await app.register(serviceKit, { service: 'pressure-test', maxEventLoopDelayMs })
    app.get('/ping', { config: { auth: false } }, async () => ({ ok: true }))
    await app.ready()
    return app
  }
  const guarded = await build(20)
  const unguarded = await build(0)
  try {
    const stallUntil = Date.now() + 1_200
    while (Date.now() < stallUntil) {
      // A synchronous stall, as a runaway handler would cause.
    }
    const seen = { guarded: new Set<number>(), unguarded: new Set<number>() }
    let refusal: { headers: Record<string, unknown>; json: () => { code: string } } | null = null
    const deadline = Date.now() + 4_000
    while (Date.now() < deadline && !(refusal && seen.guarded.has(200))) {
      const response = await guarded.inject({ url: '/ping' })
      seen.guarded.add(response.statusCode)
      if (response.statusCode === 503) refusal = response
      seen.unguarded.add((await unguarded.inject({ url: '/ping' })).statusCode)
      await sleep(50)
    }
    assert.ok(refusal, `the guarded app refused while the stall was measured (saw ${[...seen.guarded].join(', ')})`)
    assert.equal(refusal.json().code, 'UNDER_PRESSURE')
    assert.match(String(refusal.headers['content-type']), /application\/problem\+json/)
    assert.ok(seen.guarded.has(200), 'and answered again once the loop recovered')
    assert.deepEqual([...seen.unguarded], [200], 'with the guard off nothing is refused')
  } finally {
    await guarded.close()
    await unguarded.close()
  }
})
