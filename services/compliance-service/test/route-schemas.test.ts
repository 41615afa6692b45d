import { test } from 'node:test'
import assert from 'node:assert/strict'
import { routesMissingSchemas, setupServiceTests } from '@hub/service-kit/testing'
import complianceService, { SERVICE_NAME } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { COMPLIANCE_SCHEMA } from '../src/db/schema.ts'

const tests = await setupServiceTests({
  service: SERVICE_NAME,
  schemas: [COMPLIANCE_SCHEMA],
  env: (db) => ({ DATABASE_URL: db.urlFor(COMPLIANCE_SCHEMA.appRole), SYNC_LOG_CONSUMER: 'false' }),
  register: (app, env) => app.register(complianceService, { config: loadConfig(env) }),
})

test('every route declares a response schema, and a params schema when its path has parameters', async () => {
  const routes = tests.routesOf(await tests.build())
  assert.ok(routes.length >= 5, `saw ${routes.length} routes`)
  assert.deepEqual(routesMissingSchemas(routes), [])
})
