import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { createFastify } from '@hub/service-kit'
import { createTestDatabase, deleteRedisPrefix, recordRoutes, routesMissingSchemas, testRedisPrefix, testServiceEnv } from '@hub/service-kit/testing'
import service from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { VENUE_SCHEMA } from '../src/db/schema.ts'

const db = await createTestDatabase([VENUE_SCHEMA])
const prefix = testRedisPrefix()
after(async () => {
  await db.drop()
  await deleteRedisPrefix(prefix)
})

test('every route declares a response schema, and a params schema when its path has parameters', async () => {
  const app = createFastify({ service: 'venue-service', logLevel: 'silent' })
  const routes = recordRoutes(app)
  await app.register(service, { config: loadConfig({ ...testServiceEnv(prefix), DATABASE_URL: db.urlFor(VENUE_SCHEMA.appRole) }) })
  await app.ready()
  try {
    assert.ok(routes.length >= 5, `saw ${routes.length} routes`)
    const gaps = routesMissingSchemas(routes)
    assert.deepEqual(gaps, [])
  } finally {
    await app.close()
  }
})
