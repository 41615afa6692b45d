import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomUUID } from 'node:crypto'
import { mintDevToken } from '@hub/service-kit'
import { TEST_JWT, bearer, testToken } from '@hub/service-kit/testing'
import { setupGateway } from './helpers.ts'

const { build } = await setupGateway()
const tenant = randomUUID()
const admin = bearer(testToken({ tenantId: tenant, roles: ['admin'], sub: 'gw-admin' }))

test('routes venue calls to venue-service, forwarding and returning the x-request-id the edge made', async () => {
  const gateway = await build()
  const created = await gateway.inject({ method: 'POST', url: '/api/v1/venues', headers: { ...admin, 'x-request-id': 'req-abc-123' }, payload: { name: 'Gateway Arena', timezone: 'UTC', currency: 'EUR' } })
  assert.equal(created.statusCode, 201, created.body)
  assert.notEqual(created.headers['x-request-id'], 'req-abc-123', 'a client does not choose the request id')
  assert.match(String(created.headers['x-request-id']), /^[0-9a-f-]{36}$/)
  const id = created.json().id
  const fetched = await gateway.inject({ url: `/api/v1/venues/${id}`, headers: admin })
  assert.equal(fetched.statusCode, 200)
  assert.equal(fetched.json().name, 'Gateway Arena')
  assert.ok(fetched.headers['x-request-id'])
  const echoed = await gateway.inject({ url: '/api/v1/integrations/connections?x=1', headers: { ...admin, 'x-request-id': 'trace-7' } })
  assert.equal(echoed.json().headers['x-request-id'], echoed.headers['x-request-id'], "the upstream gets the edge's id")
  assert.notEqual(echoed.headers['x-request-id'], 'trace-7')
  assert.equal(echoed.json().url, '/api/v1/integrations/connections?x=1')
})

test('refuses missing, expired, wrongly signed, wrong-algorithm, wrong-issuer and wrong-audience tokens with 401', async () => {
  const gateway = await build()
  const claims = { tenantId: tenant, roles: ['admin' as const] }
  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'x', tenant_id: tenant, roles: ['admin'], iss: TEST_JWT.issuer, aud: TEST_JWT.audience, exp: Math.floor(Date.now() / 1000) + 60 })).toString('base64url')}.`
  const cases: Array<[string, Record<string, string>, string]> = [
    ['missing', {}, 'AUTH_TOKEN_MISSING'],
    ['not bearer', { authorization: 'Basic abc' }, 'AUTH_TOKEN_MISSING'],
    ['expired', bearer(mintDevToken({ ...TEST_JWT, ...claims, expiresIn: -60 })), 'AUTH_TOKEN_EXPIRED'],
    ['wrong secret', bearer(mintDevToken({ ...TEST_JWT, ...claims, secret: 'another-secret-that-is-also-long-enough' })), 'AUTH_TOKEN_INVALID'],
    ['wrong algorithm', bearer(mintDevToken({ ...TEST_JWT, ...claims, algorithm: 'HS512' })), 'AUTH_TOKEN_INVALID'],
    ['alg none', bearer(unsigned), 'AUTH_TOKEN_INVALID'],
    ['wrong issuer', bearer(mintDevToken({ ...TEST_JWT, ...claims, issuer: 'someone-else' })), 'AUTH_TOKEN_INVALID'],
    ['wrong audience', bearer(mintDevToken({ ...TEST_JWT, ...claims, audience: 'another-api' })), 'AUTH_TOKEN_INVALID'],
    ['garbage', bearer('not.a.jwt'), 'AUTH_TOKEN_INVALID'],
  ]
  for (const [name, headers, code] of cases) {
    for (const url of ['/api/v1/venues', '/api/v1/integrations/connections', '/api/v1/compliance/reports']) {
      const response = await gateway.inject({ url, headers })
      assert.equal(response.statusCode, 401, `${name} ${url}: ${response.body}`)
      assert.match(String(response.headers['content-type']), /application\/problem\+json/)
      assert.equal(response.json().code, code, name)
    }
  }
})

test('answers 404 to every /internal path, however it is spelled', async () => {
  const gateway = await build()
  for (const url of [
    '/internal/sync-logs/venue/x',
    '/internal',
    '/api/v1/integrations/internal/sync-logs',
    '/api/v1/venues/../../internal/venues/1',
    '/api/v1/venues/%2e%2e/%2e%2e/internal/venues/1',
    '/api/v1/venues/%252e%252e/internal',
    '/api/v1/integrations/%69nternal/x',
    '/INTERNAL/x',
  ]) {
    const response = await gateway.inject({ url, headers: admin })
    assert.equal(response.statusCode, 404, url)
    assert.equal(response.json().code, 'ROUTE_NOT_FOUND', url)
  }
})

test('passes provider webhooks without a token and byte for byte', async () => {
  const gateway = await build()
  const body = Buffer.from('{"id":"evt_1",  "type":"customer.updated","data":{"x":"\u00e9\\u00e9"}}\n', 'utf8')
  const response = await gateway.inject({ method: 'POST', url: '/api/v1/integrations/webhooks/stripe/abc', headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00' }, payload: body })
  assert.equal(response.statusCode, 200, response.body)
  assert.equal(response.json().sha256, createHash('sha256').update(body).digest('hex'))
  assert.equal(response.json().headers['stripe-signature'], 't=1,v1=00')
  const form = Buffer.from('type=subscribe&data%5Bemail%5D=a%40b.c')
  const formResponse = await gateway.inject({ method: 'POST', url: '/api/v1/integrations/webhooks/mailchimp/abc?secret=s', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form })
  assert.equal(formResponse.json().sha256, createHash('sha256').update(form).digest('hex'))
  const intuit = Buffer.from('{"eventNotifications":[{"realmId":"123"}]}')
  const intuitResponse = await gateway.inject({ method: 'POST', url: '/api/v1/integrations/webhooks/quickbooks', headers: { 'content-type': 'application/json', 'intuit-signature': 'c2ln' }, payload: intuit })
  assert.equal(intuitResponse.statusCode, 200, 'the QuickBooks app endpoint is public too')
  assert.equal(intuitResponse.json().sha256, createHash('sha256').update(intuit).digest('hex'))
  const callback = await gateway.inject({ url: '/api/v1/integrations/oauth/square/callback?code=c&state=s' })
  assert.equal(callback.statusCode, 200, 'OAuth callback is public')
  const authorize = await gateway.inject({ url: '/api/v1/integrations/oauth/square/authorize?venueId=x' })
  assert.equal(authorize.statusCode, 401, 'OAuth authorize needs a user')
})

test('carries the OAuth browser-binding cookie both ways: Set-Cookie out at authorize, Cookie in at the callback', async () => {
  const gateway = await build()
  const authorize = await gateway.inject({ url: '/api/v1/integrations/oauth/square/authorize?venueId=x', headers: admin })
  assert.equal(authorize.statusCode, 200, authorize.body)
  assert.match(String(authorize.headers['set-cookie']), /^hub_oauth_0123456789abcdef=browser-value; Path=\/api\/v1\/integrations\/oauth\/; Max-Age=600; HttpOnly; SameSite=Lax/)
  const callback = await gateway.inject({ url: '/api/v1/integrations/oauth/square/callback?code=c&state=s', headers: { cookie: 'hub_oauth_0123456789abcdef=browser-value' } })
  assert.equal(callback.json().headers.cookie, 'hub_oauth_0123456789abcdef=browser-value')
})

test('maps an unreachable upstream to 503 and a slow one to 504, as problem+json', async () => {
  // Only this test wants a short deadline; elsewhere a loaded machine must not turn answers into 504s.
  const gateway = await build({ UPSTREAM_TIMEOUT_MS: '500' })
  const down = await gateway.inject({ url: '/api/v1/compliance/reports', headers: admin })
  assert.equal(down.statusCode, 503, down.body)
  assert.equal(down.json().code, 'UPSTREAM_UNAVAILABLE')
  assert.match(String(down.headers['content-type']), /application\/problem\+json/)
  const slow = await gateway.inject({ url: '/api/v1/integrations/slow', headers: admin })
  assert.equal(slow.statusCode, 504, slow.body)
  assert.equal(slow.json().code, 'UPSTREAM_TIMEOUT')
})

test('two gateway instances share one rate-limit budget in Redis', async () => {
  const limits = { RATE_LIMIT_USER_MAX: '6', RATE_LIMIT_SENSITIVE_MAX: '2', RATE_LIMIT_ANONYMOUS_MAX: '4' }
  const [one, two] = [await build(limits), await build(limits)]
  const user = bearer(testToken({ tenantId: tenant, roles: ['viewer'], sub: `rl-${randomUUID()}` }))
  const statuses: number[] = []
  for (let i = 0; i < 8; i++) statuses.push((await (i % 2 ? one : two).inject({ url: '/api/v1/venues', headers: user })).statusCode)
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 429, 429])
  const limited = await one.inject({ url: '/api/v1/venues', headers: user })
  assert.equal(limited.json().code, 'RATE_LIMITED')
  assert.ok(Number(limited.headers['retry-after']) > 0)
  // Another user still has their own budget.
  const other = bearer(testToken({ tenantId: tenant, roles: ['viewer'], sub: `rl-${randomUUID()}` }))
  assert.equal((await two.inject({ url: '/api/v1/venues', headers: other })).statusCode, 200)
  // Credential writes have a stricter budget of their own.
  const writer = bearer(testToken({ tenantId: tenant, roles: ['admin'], sub: `rl-${randomUUID()}` }))
  const writes: number[] = []
  for (let i = 0; i < 3; i++) writes.push((await (i % 2 ? one : two).inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: writer, payload: {} })).statusCode)
  assert.deepEqual(writes, [200, 200, 429])
  // Failed logins spend the IP's anonymous budget.
  const anonymous: number[] = []
  for (let i = 0; i < 5; i++) anonymous.push((await one.inject({ url: '/api/v1/venues', remoteAddress: '203.0.113.9', headers: bearer('bad.token.here') })).statusCode)
  assert.deepEqual(anonymous, [401, 401, 401, 401, 429])
})

test('reports upstream readiness on /health, merges OpenAPI without internal routes, sets security headers', async () => {
  const gateway = await build()
  const health = await gateway.inject({ url: '/health' })
  assert.equal(health.statusCode, 200)
  assert.deepEqual(Object.fromEntries(Object.entries(health.json().upstreams).map(([name, value]) => [name, (value as { status: string }).status])), { 'venue-service': 'up', 'integration-service': 'up', 'compliance-service': 'down' })
  const openapi = (await gateway.inject({ url: '/openapi.json' })).json()
  assert.ok(openapi.paths['/api/v1/venues/{id}'])
  assert.ok(openapi.paths['/api/v1/integrations/connections'])
  assert.ok(!Object.keys(openapi.paths).some((path) => path.startsWith('/internal')))
  const docs = await gateway.inject({ url: '/docs/' })
  assert.equal(docs.statusCode, 200)
  assert.match(docs.body, /swagger/i)
  assert.equal(health.headers['x-content-type-options'], 'nosniff')
  assert.ok(health.headers['strict-transport-security'])
  const big = await gateway.inject({ method: 'POST', url: '/api/v1/venues', headers: { ...admin, 'content-type': 'application/json' }, payload: Buffer.alloc(1024 * 1024 + 10, 32) })
  assert.equal(big.statusCode, 413)
  assert.equal(big.json().code, 'PAYLOAD_TOO_LARGE')
})

test("the audit digests' public keys need no token (GET only); every other audit-log path still does", async () => {
  const gateway = await build()
  // compliance-service is stopped in this rig: a 503 means the edge let the request through.
  const keys = await gateway.inject({ url: '/api/v1/compliance/audit-log/signing-keys' })
  assert.equal(keys.statusCode, 503, keys.body)
  assert.equal(keys.json().code, 'UPSTREAM_UNAVAILABLE')
  for (const [method, url] of [
    ['POST', '/api/v1/compliance/audit-log/signing-keys'],
    ['GET', '/api/v1/compliance/audit-log/digests'],
    ['GET', '/api/v1/compliance/audit-log/signing-keys/x'],
    ['GET', '/api/v1/compliance/audit-log'],
  ] as const) {
    const response = await gateway.inject({ method, url })
    assert.equal(response.statusCode, 401, `${method} ${url}: ${response.body}`)
  }
})

test('the event catalogue needs no token (GET only); the other event paths still do', async () => {
  const gateway = await build()
  // The fake integration-service echoes what reached it: the edge let the request through.
  const catalogue = await gateway.inject({ url: '/api/v1/integrations/events/catalogue' })
  assert.equal(catalogue.statusCode, 200, catalogue.body)
  assert.equal(catalogue.json().url, '/api/v1/integrations/events/catalogue')
  for (const [method, url] of [
    ['POST', '/api/v1/integrations/events/catalogue'],
    ['GET', '/api/v1/integrations/events/catalogue/x'],
    ['GET', '/api/v1/integrations/events'],
  ] as const) {
    const response = await gateway.inject({ method, url })
    assert.equal(response.statusCode, 401, `${method} ${url}: ${response.body}`)
  }
})
