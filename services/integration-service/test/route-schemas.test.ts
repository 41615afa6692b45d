import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyRingJson } from '@hub/crypto'
import { routesMissingSchemas, setupServiceTests } from '@hub/service-kit/testing'
import integrationService, { SERVICE_NAME } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { INTEGRATION_SCHEMA } from '../src/db/schema.ts'

const tests = await setupServiceTests({
  service: SERVICE_NAME,
  schemas: [INTEGRATION_SCHEMA],
  env: (db) => ({ DATABASE_URL: db.urlFor(INTEGRATION_SCHEMA.appRole), ENCRYPTION_KEYS: generateKeyRingJson([1]) }),
  register: (app, env) => app.register(integrationService, { config: loadConfig(env) }),
})

test('every route declares a response schema, and a params schema when its path has parameters', async () => {
  const routes = tests.routesOf(await tests.build())
  assert.ok(routes.length >= 5, `saw ${routes.length} routes`)
  // bull-board's own UI and API, mounted for operators, declare no schemas of ours.
  assert.deepEqual(routesMissingSchemas(routes, ['/metrics', '/openapi.json', '/api/v1/integrations/admin/queues']), [])
})
