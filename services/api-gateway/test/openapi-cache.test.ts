import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import { listenLocal } from '@hub/service-kit/testing'
import { setupGateway } from './helpers.ts'

const { build } = await setupGateway()

/** A venue-service stand-in that only serves its document and counts how often it is asked. */
async function documentServer() {
  const app = Fastify()
  let hits = 0
  app.get('/openapi.json', async () => {
    hits++
    return { openapi: '3.1.0', info: { title: 'v', version: '1' }, paths: { '/api/v1/venues/{id}': { get: {} } } }
  })
  const url = await listenLocal(app)
  return { url, hits: () => hits, close: () => app.close() }
}

test('serves the merged OpenAPI document from a cache instead of asking every service per request', async () => {
  const upstream = await documentServer()
  const gateway = await build({ VENUE_SERVICE_URL: upstream.url })
  for (let i = 0; i < 25; i++) {
    const response = await gateway.inject({ url: '/openapi.json' })
    assert.equal(response.statusCode, 200)
    assert.ok(response.json().paths['/api/v1/venues/{id}'])
  }
  assert.ok(upstream.hits() <= 2, `${upstream.hits()} fetches for 25 requests`)
  await upstream.close()
})

test('keeps serving the last document of a service that went down, after the TTL has passed', async () => {
  const upstream = await documentServer()
  const gateway = await build({ VENUE_SERVICE_URL: upstream.url, OPENAPI_CACHE_TTL_MS: '100' })
  assert.ok((await gateway.inject({ url: '/openapi.json' })).json().paths['/api/v1/venues/{id}'])
  await upstream.close()
  // Several TTLs, each stale read starting a refresh that finds the service down.
  const deadline = Date.now() + 1_000
  while (Date.now() < deadline) {
    const response = await gateway.inject({ url: '/openapi.json' })
    assert.equal(response.statusCode, 200)
    assert.ok(response.json().paths['/api/v1/venues/{id}'], 'still documented')
    await sleep(50)
  }
})
