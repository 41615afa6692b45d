import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import type { ConfigError } from '../src/index.ts'
import { CommonEnv, createFastify, parseConfig, serviceKit, trustProxyOption } from '../src/index.ts'
import { TEST_JWT, TEST_INTERNAL_KEYS, bearer, testToken } from '../src/testing/index.ts'
import { Type } from '@sinclair/typebox'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

async function echoApp(opts: Parameters<typeof createFastify>[0]) {
  const app = createFastify(opts)
  await app.register(serviceKit, { service: 'identity-test', jwt: { secret: TEST_JWT.secret, issuer: TEST_JWT.issuer, audience: TEST_JWT.audience } })
  app.get('/who', { config: { auth: false } }, async (request) => ({ id: request.id, ip: request.ip }))
  app.get('/api/me', async (request) => ({ user: request.principal.userId }))
  await app.ready()
  return app
}

test('a service believes X-Request-Id and X-Forwarded-For only from a trusted proxy', async (t) => {
  const app = await echoApp({ service: 'identity-test', logLevel: 'silent', trustProxy: ['10.0.0.0/8', 'loopback'] })
  t.after(() => app.close())
  const headers = { 'x-request-id': 'forged-by-client', 'x-forwarded-for': '198.51.100.1' }
  const direct = (await app.inject({ url: '/who', headers, remoteAddress: '203.0.113.9' })).json()
  assert.match(direct.id, UUID, 'an untrusted peer does not choose the request id')
  assert.equal(direct.ip, '203.0.113.9', 'nor the client address')
  const viaGateway = (await app.inject({ url: '/who', headers, remoteAddress: '10.1.2.3' })).json()
  assert.equal(viaGateway.id, 'forged-by-client')
  assert.equal(viaGateway.ip, '198.51.100.1')
  const edge = await echoApp({ service: 'identity-test', logLevel: 'silent', trustProxy: ['loopback'], requestIds: 'generate' })
  t.after(() => edge.close())
  assert.match((await edge.inject({ url: '/who', headers, remoteAddress: '127.0.0.1' })).json().id, UUID, 'the edge always makes its own')
})

test('TRUST_PROXY takes a hop count or addresses and CIDRs, defaults to loopback outside production, and refuses nonsense', () => {
  assert.deepEqual(trustProxyOption({ NODE_ENV: 'test' }), ['loopback'])
  assert.equal(trustProxyOption({ NODE_ENV: 'production' }), false)
  assert.equal(trustProxyOption({ NODE_ENV: 'production', TRUST_PROXY: '1' }), 1)
  assert.deepEqual(trustProxyOption({ NODE_ENV: 'production', TRUST_PROXY: '10.0.0.0/8, fd00::/8' }), ['10.0.0.0/8', 'fd00::/8'])
  const Env = Type.Object(CommonEnv)
  const base = { JWT_SECRET: TEST_JWT.secret, INTERNAL_AUTH_KEYS: JSON.stringify(TEST_INTERNAL_KEYS) }
  assert.throws(
    () => parseConfig(Env, { ...base, TRUST_PROXY: '10.0.0.0/99,everyone' }),
    (error: ConfigError) => error.problems.filter((p) => p.startsWith('TRUST_PROXY')).length === 2,
  )
  assert.equal(parseConfig(Env, { ...base, TRUST_PROXY: 'loopback,192.168.1.10' }).TRUST_PROXY, 'loopback,192.168.1.10')
})

test('refuses a token issued in the future and one older than the maximum age, whatever its exp', async (t) => {
  const app = await echoApp({ service: 'identity-test', logLevel: 'silent' })
  t.after(() => app.close())
  const now = Math.floor(Date.now() / 1000)
  const sign = createSigner({ key: TEST_JWT.secret, algorithm: 'HS256' })
  const signWithoutIat = createSigner({ key: TEST_JWT.secret, algorithm: 'HS256', noTimestamp: true })
  const token = (iat: number | undefined, exp: number) =>
    `Bearer ${(iat === undefined ? signWithoutIat : sign)({ sub: 'u1', tenant_id: randomUUID(), roles: ['viewer'], iss: TEST_JWT.issuer, aud: TEST_JWT.audience, exp, ...(iat === undefined ? {} : { iat }) })}`
  const century = now + 100 * 365 * 86_400
  const cases: Array<[string, string, number, string?]> = [
    ['fresh, long exp', token(now - 10, century), 200],
    ['iat within the skew', token(now + 30, now + 3600), 200],
    ['iat an hour ahead', token(now + 3600, century), 401, 'AUTH_TOKEN_INVALID'],
    ['older than a day, exp in a century', token(now - 25 * 3600, century), 401, 'AUTH_TOKEN_EXPIRED'],
    ['no iat', token(undefined, now + 3600), 401, 'AUTH_TOKEN_INVALID'],
  ]
  for (const [name, authorization, status, code] of cases) {
    const response = await app.inject({ url: '/api/me', headers: { authorization } })
    assert.equal(response.statusCode, status, `${name}: ${response.body}`)
    if (code) assert.equal(response.json().code, code, name)
  }
})

test('a signed token whose subject holds a NUL byte or a lone surrogate is refused as invalid, never stored as an actor', async (t) => {
  const app = await echoApp({ service: 'identity-test', logLevel: 'silent' })
  t.after(() => app.close())
  for (const sub of ['user\u0000x', 'user\ud800x']) {
    const response = await app.inject({ url: '/api/me', headers: bearer(testToken({ tenantId: randomUUID(), roles: ['admin'], sub })) })
    assert.equal(response.statusCode, 401, JSON.stringify(sub))
    assert.equal(response.json().code, 'AUTH_TOKEN_INVALID', JSON.stringify(sub))
  }
  assert.equal((await app.inject({ url: '/api/me', headers: bearer(testToken({ tenantId: randomUUID(), roles: ['admin'], sub: 'user-ü-😀' })) })).statusCode, 200)
})
