import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mintDevToken } from '@hub/service-kit'
import { TEST_JWT, bearer, testToken } from '@hub/service-kit/testing'
import { setupGateway } from './helpers.ts'

const { build, venue } = await setupGateway()

test("a change made through the gateway reaches venue-service with the edge's request id and the client's address, not what the client claimed", async () => {
  const gateway = await build()
  const tenant = randomUUID()
  const created = await gateway.inject({
    method: 'POST',
    url: '/api/v1/venues',
    remoteAddress: '203.0.113.7',
    headers: { ...bearer(testToken({ tenantId: tenant, roles: ['admin'] })), 'x-request-id': 'forged-request-id', 'x-forwarded-for': '198.51.100.66' },
    payload: { name: 'Identity Hall', timezone: 'UTC', currency: 'EUR' },
  })
  assert.equal(created.statusCode, 201, created.body)
  const requestId = String(created.headers['x-request-id'])
  assert.notEqual(requestId, 'forged-request-id')
  // venue-service, trusting its loopback gateway, audits with these (e2e/cross-process.test.ts reads
  // the request id back from the audit log of the running stack).
  const reached = venue.received.filter((request) => request.method === 'POST' && request.url === '/api/v1/venues' && request.status === 201)
  assert.deepEqual(
    reached.map((request) => [request.headers['x-request-id'], request.headers['x-forwarded-for']]),
    [[requestId, '203.0.113.7']],
  )
})

test('the gateway refuses a token issued in the future or older than JWT_MAX_AGE_SECONDS', async () => {
  const gateway = await build({ JWT_MAX_AGE_SECONDS: '3600' })
  const now = Math.floor(Date.now() / 1000)
  const century = 100 * 365 * 86_400
  const token = (iat: number, expiresIn: number) => bearer(mintDevToken({ ...TEST_JWT, tenantId: randomUUID(), roles: ['viewer'], issuedAt: iat, expiresIn }))
  assert.equal((await gateway.inject({ url: '/api/v1/venues', headers: token(now, century) })).statusCode, 200)
  const future = await gateway.inject({ url: '/api/v1/venues', headers: token(now + 86_400, century) })
  assert.equal(future.statusCode, 401)
  assert.equal(future.json().code, 'AUTH_TOKEN_INVALID')
  const old = await gateway.inject({ url: '/api/v1/venues', headers: token(now - 7200, century) })
  assert.equal(old.statusCode, 401)
  assert.equal(old.json().code, 'AUTH_TOKEN_EXPIRED')
})
