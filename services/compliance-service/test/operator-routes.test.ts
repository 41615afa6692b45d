import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import Fastify from 'fastify'
import { createFastify, type ServiceInstance } from '@hub/service-kit'
import { bearer, createFakeIntegrationService, createTestDatabase, deleteRedisPrefix, listenLocal, testRedisPrefix, testServiceEnv, testToken } from '@hub/service-kit/testing'
import complianceService from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { COMPLIANCE_SCHEMA } from '../src/db/schema.ts'

const db = await createTestDatabase([COMPLIANCE_SCHEMA])
const prefix = testRedisPrefix()
const common = testServiceEnv(prefix)
// The pull reads integration-service's sync-log feed: a fake serving that contract.
const integration = await createFakeIntegrationService({ redisPrefix: prefix })
const apps: ServiceInstance[] = []
test.after(async () => {
  await Promise.all(apps.map((app) => app.close()))
  await integration.stop()
  await db.drop()
  await deleteRedisPrefix(prefix)
})

test('POST /sync-logs/pull is for operator admins only and reveals no global figures', async () => {
  const integrationUrl = await integration.start()
  integration.recordRun({ tenantId: randomUUID(), venueId: randomUUID() })
  const operatorTenant = randomUUID()
  const compliance = createFastify({ service: 'compliance-service', logLevel: 'silent' })
  apps.push(compliance)
  await compliance.register(complianceService, {
    config: loadConfig({ ...common, DATABASE_URL: db.urlFor(COMPLIANCE_SCHEMA.appRole), INTEGRATION_SERVICE_URL: integrationUrl, SYNC_LOG_CONSUMER: 'false', OPERATOR_TENANT_IDS: operatorTenant }),
  })
  await compliance.ready()

  const tenantAdmin = await compliance.inject({ method: 'POST', url: '/api/v1/compliance/sync-logs/pull', headers: bearer(testToken({ tenantId: randomUUID(), roles: ['admin'] })) })
  assert.equal(tenantAdmin.statusCode, 403, tenantAdmin.body)
  assert.equal(tenantAdmin.json().code, 'OPERATOR_ONLY')
  const operator = await compliance.inject({ method: 'POST', url: '/api/v1/compliance/sync-logs/pull', headers: bearer(testToken({ tenantId: operatorTenant, roles: ['admin'] })) })
  assert.equal(operator.statusCode, 204, operator.body)
  assert.equal(operator.body, '', "no count of other tenants' runs")
  assert.ok(
    integration.received.some((request) => request.url.startsWith('/internal/sync-logs') && request.caller === 'compliance-service' && request.status === 200),
    'the pull read the feed, signed',
  )

  // No operators configured: nobody pulls by hand (the consumer loop still does).
  const unconfigured = createFastify({ service: 'compliance-service', logLevel: 'silent' })
  apps.push(unconfigured)
  await unconfigured.register(complianceService, { config: loadConfig({ ...common, DATABASE_URL: db.urlFor(COMPLIANCE_SCHEMA.appRole), INTEGRATION_SERVICE_URL: integrationUrl, SYNC_LOG_CONSUMER: 'false' }) })
  const anyAdmin = await unconfigured.inject({ method: 'POST', url: '/api/v1/compliance/sync-logs/pull', headers: bearer(testToken({ tenantId: operatorTenant, roles: ['admin'] })) })
  assert.equal(anyAdmin.statusCode, 403)
})

test('POST /sync-logs/pull answers 503 DEPENDENCY_UNAVAILABLE when integration-service is unreachable or failing, never a 500', async (t) => {
  const operatorTenant = randomUUID()
  const operator = bearer(testToken({ tenantId: operatorTenant, roles: ['admin'] }))
  // A stand-in integration-service whose feed fails on its side.
  const failing = Fastify()
  failing.get('/internal/sync-logs', async (_request, reply) => reply.code(500).type('application/problem+json').send({ type: 'about:blank', title: 'Internal Server Error', status: 500, code: 'INTERNAL_ERROR' }))
  const failingUrl = await listenLocal(failing)
  t.after(() => failing.close())
  for (const [what, integrationUrl] of [
    ['unreachable', 'http://127.0.0.1:9'],
    ['answering 500', failingUrl],
  ] as const) {
    const compliance = createFastify({ service: 'compliance-service', logLevel: 'silent' })
    apps.push(compliance)
    await compliance.register(complianceService, {
      config: loadConfig({ ...common, DATABASE_URL: db.urlFor(COMPLIANCE_SCHEMA.appRole), INTEGRATION_SERVICE_URL: integrationUrl, SYNC_LOG_CONSUMER: 'false', OPERATOR_TENANT_IDS: operatorTenant }),
    })
    const res = await compliance.inject({ method: 'POST', url: '/api/v1/compliance/sync-logs/pull', headers: operator })
    assert.equal(res.statusCode, 503, `${what}: ${res.body}`)
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/, what)
    assert.equal(res.json().code, 'DEPENDENCY_UNAVAILABLE', what)
    assert.ok(!res.body.includes('127.0.0.1'), `${what}: no internals in the answer`)
  }
})
