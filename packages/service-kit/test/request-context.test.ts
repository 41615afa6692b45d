import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { auditActor, createFastify, jsonb, requestContext, serviceKit, type Principal } from '../src/index.ts'
import { TEST_JWT, bearer, testToken } from '../src/testing/index.ts'

const principal: Principal = { userId: 'user-1', tenantId: randomUUID(), roles: ['manager'], venueIds: [randomUUID()] }

test('the request context carries the principal, the request id as a string and the client address', () => {
  assert.deepEqual(requestContext({ id: 17, ip: '203.0.113.9' } as never, principal), { principal, requestId: '17', ip: '203.0.113.9' })
})

test('auditActor names the user of the context, in the fields an audit event takes', () => {
  const ctx = requestContext({ id: 'req-1', ip: '198.51.100.4' } as never, principal)
  assert.deepEqual(auditActor(ctx), { tenantId: principal.tenantId, actorType: 'user', actorId: 'user-1', requestId: 'req-1', ip: '198.51.100.4' })
})

test('jsonb sends arrays and objects as JSON text, so node-postgres never makes a Postgres array of them', () => {
  assert.equal(jsonb([1, 'two']), '[1,"two"]')
  assert.equal(jsonb({ a: { b: null } }), '{"a":{"b":null}}')
})

test('the auth plugin builds request.caller once per authenticated request, in the one shape', async () => {
  const app = createFastify({ service: 'context-test', logLevel: 'silent' })
  after(() => app.close())
  await app.register(serviceKit, { service: 'context-test', jwt: TEST_JWT })
  app.get('/api/caller', async (request) => request.caller)
  app.get('/public', { config: { auth: false } }, async (request) => ({ caller: request.caller }))
  await app.ready()
  const tenantId = randomUUID()
  const venueId = randomUUID()
  const token = testToken({ tenantId, roles: ['viewer', 'viewer'], venueIds: [venueId.toUpperCase()], sub: 'u-7' })
  const response = await app.inject({ url: '/api/caller', headers: bearer(token), remoteAddress: '127.0.0.1' })
  assert.equal(response.statusCode, 200, response.body)
  const caller = response.json() as { principal: Principal; requestId: string; ip: string }
  assert.deepEqual(caller.principal, { userId: 'u-7', tenantId, roles: ['viewer'], venueIds: [venueId] })
  assert.match(caller.requestId, /^[0-9a-f-]{36}$/, 'the id the kit generated for this request')
  assert.equal(caller.ip, '127.0.0.1')
  const anonymous = await app.inject({ url: '/public' })
  assert.deepEqual(anonymous.json(), { caller: null }, 'no caller where no user was required')
})
