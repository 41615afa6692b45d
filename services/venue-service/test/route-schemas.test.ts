import { test } from 'node:test'
import assert from 'node:assert/strict'
import { routesMissingSchemas } from '@hub/service-kit/testing'
import { setupVenueTests } from './helpers.ts'

const tests = await setupVenueTests()

test('every route declares a response schema, and a params schema when its path has parameters', async () => {
  const routes = tests.routesOf(await tests.build())
  assert.ok(routes.length >= 5, `saw ${routes.length} routes`)
  assert.deepEqual(routesMissingSchemas(routes), [])
})
