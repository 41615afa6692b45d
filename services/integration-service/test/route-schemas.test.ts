import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { createFastify } from '@hub/service-kit'
import { createTestDatabase, deleteRedisPrefix, recordRoutes, routesMissingSchemas, testRedisPrefix, testServiceEnv } from '@hub/service-kit/testing'
import { generateKeyRingJson } from '@hub/crypto'
import service from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { INTEGRATION_SCHEMA } from '../src/db/schema.ts'

const db = await createTestDatabase([INTEGRATION_SCHEMA])
const prefix = testRedisPrefix()
after(async () => {
  await db.drop()
  await deleteRedisPrefix(prefix)
})

test('every route declares a response schema, and a params schema when its path has parameters', async () => {
  const app = createFastify({ service: 'integration-service', logLevel: 'silent' })
  const routes = recordRoutes(app)
  await app.register(service, { config: loadConfig({ ...testServiceEnv(prefix), DATABASE_URL: db.urlFor(INTEGRATION_SCHEMA.appRole), ENCRYPTION_KEYS: generateKeyRingJson([1]) }) })
  await app.ready()
  try {
    assert.ok(routes.length >= 5, `saw ${routes.length} routes`)
    // bull-board's own UI and API, mounted for operators, declare no schemas of ours.
    const gaps = routesMissingSchemas(routes, ['/metrics', '/openapi.json', '/api/v1/integrations/admin/queues'])
    assert.deepEqual(gaps, [])
  } finally {
    await app.close()
  }
})
