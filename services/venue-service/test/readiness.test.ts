// README: every service answers GET /ready with 503 when Postgres or Redis is down.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setupVenueTests } from './helpers.ts'

const { build } = await setupVenueTests()

test('readiness is 503 when Redis is unreachable', { timeout: 60_000 }, async () => {
  const app = await build({ REDIS_URL: 'redis://127.0.0.1:1' })
  const ready = await app.inject({ url: '/ready' })
  assert.equal(ready.statusCode, 503, ready.body)
  assert.equal(ready.json().checks.redis.status, 'down')
  assert.equal(ready.json().checks.postgres.status, 'up')
})
