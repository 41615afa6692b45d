// Rate limiting without Redis: a gateway whose Redis is unreachable (a port where nothing listens)
// limits per instance, in memory, within milliseconds — instead of every request waiting on Redis —
// and its metrics say so.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { bearer, scrapeMetrics, testToken } from '@hub/service-kit/testing'
import { createLocalWindows } from '../src/plugins/app/rate-limit-store.ts'
import { setupGateway } from './helpers.ts'

const { build } = await setupGateway()

test('with Redis unreachable the gateway limits per instance, answers in milliseconds, and says so in its metrics', async () => {
  const gateway = await build({ REDIS_URL: 'redis://127.0.0.1:1', RATE_LIMIT_USER_MAX: '6' })
  const user = bearer(testToken({ tenantId: randomUUID(), roles: ['viewer'], sub: `rl-${randomUUID()}` }))
  const statuses: number[] = []
  const timings: number[] = []
  for (let i = 0; i < 8; i++) {
    const started = performance.now()
    // The stand-in integration-service echoes at once: what is timed is the edge.
    statuses.push((await gateway.inject({ url: '/api/v1/integrations/connections', headers: user })).statusCode)
    timings.push(performance.now() - started)
  }
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 429, 429], 'the budget still holds, counted in memory')
  // The first request warms the route up; the rest must not wait on Redis reconnects (which take
  // seconds). The bound is the "within a second", loose enough for a loaded machine.
  const slowest = Math.max(...timings.slice(1))
  assert.ok(slowest < 1_000, `every request answered without waiting on Redis (slowest ${Math.round(slowest)} ms)`)
  const metrics = await scrapeMetrics(gateway)
  assert.match(metrics, /gateway_rate_limit_fallback_total\{[^}]*reason="disconnected"[^}]*\} (\d+)/)
  assert.match(metrics, /gateway_rate_limit_degraded\{[^}]*\} 1/)
})

test('the in-memory windows count per key, reset after the window, and stay bounded', () => {
  const windows = createLocalWindows(2)
  assert.deepEqual(windows.incr('a', 1_000, 0), { current: 1, ttl: 1_000 })
  assert.deepEqual(windows.incr('a', 1_000, 400), { current: 2, ttl: 600 })
  assert.deepEqual(windows.incr('a', 1_000, 1_000), { current: 1, ttl: 1_000 }, 'a new window')
  windows.incr('b', 1_000, 1_000)
  windows.incr('c', 1_000, 1_000)
  assert.deepEqual(windows.incr('a', 1_000, 1_100), { current: 1, ttl: 1_000 }, 'the oldest key made room for a new one')
})
