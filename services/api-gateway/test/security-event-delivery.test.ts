// The gateway's refusals reach compliance-service through a Redis stream every replica shares:
// buffered while compliance-service is down, each window delivered once when it is back, and what
// cannot even be buffered counted as dropped. compliance-service is a fake serving its intake
// contract; the real one across processes is proven in e2e/.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import { createFastify, type ServiceInstance } from '@hub/service-kit'
import { TEST_REDIS_URL, bearer, deleteRedisPrefix, eventually, scrapeMetrics, setupSecurityEventDelivery, testRedisPrefix, testServiceEnv, totalCount as total } from '@hub/service-kit/testing'
import apiGateway from '../src/app.ts'
import { loadConfig } from '../src/config.ts'

const prefix = testRedisPrefix()
const redis = new Redis(TEST_REDIS_URL)
const { compliance, stored } = await setupSecurityEventDelivery({ source: 'api-gateway', redisPrefix: prefix })
const dead = 'http://127.0.0.1:9'
const common = { ...testServiceEnv(prefix), SECURITY_RELAY_INTERVAL_MS: '100', VENUE_SERVICE_URL: dead, INTEGRATION_SERVICE_URL: dead, COMPLIANCE_SERVICE_URL: compliance.url }
const apps: ServiceInstance[] = []
test.after(async () => {
  await Promise.all(apps.map((app) => app.close().catch(() => undefined)))
  redis.disconnect()
  await deleteRedisPrefix(prefix)
})

async function startGateway(extra: Record<string, string> = {}): Promise<ServiceInstance> {
  const app = createFastify({ service: 'api-gateway', logLevel: process.env.TEST_LOG_LEVEL ?? 'silent' })
  await app.register(apiGateway, { config: loadConfig({ ...common, RATE_LIMIT_ANONYMOUS_MAX: '10000', ...extra }) })
  await app.ready()
  apps.push(app)
  return app
}

test('the gateway buffers its refusals in Redis while compliance-service is down, and delivers each window once when it is back', async () => {
  const gateway = await startGateway()
  const stream = `${prefix}security-events`
  for (let i = 0; i < 200; i++) {
    assert.equal((await gateway.inject({ url: '/api/v1/venues', headers: bearer('not.a.token') })).statusCode, 401)
  }
  assert.equal((await gateway.inject({ url: '/api/v1/%69nternal/sync-logs' })).statusCode, 404)
  const buffered = await eventually(
    'the Redis stream holds the refusals',
    async () => (await redis.xrange(stream, '-', '+')).map(([, fields]) => JSON.parse(fields[1] ?? '{}') as { code: string; count?: number; id: string }),
    (entries) => entries.some((e) => e.code === 'INTERNAL_ROUTE_PROBE') && entries.filter((e) => e.code === 'AUTH_TOKEN_INVALID').some((e) => (e.count ?? 1) === 200),
  )
  // The reporter writes a folded event again with its grown count at each tick while its window is
  // open, so a slow loop adds entries; the events themselves are a handful, not one per refusal.
  const folded = new Set(buffered.filter((e) => e.code === 'AUTH_TOKEN_INVALID').map((e) => e.id))
  assert.ok(folded.size <= 3, `a handful of events, not one per refusal (${folded.size})`)
  assert.ok(buffered.length < 50, `far fewer stream entries than refusals (${buffered.length})`)

  await compliance.start()
  const tokens = await eventually(
    'stored by compliance-service',
    async () => stored('AUTH_TOKEN_INVALID'),
    (rows) => total(rows) === 200,
  )
  assert.ok(tokens.length <= 3, `a handful of stored events (${tokens.length})`)
  assert.ok(
    tokens.every((event) => event.tenantId == null),
    'anonymous refusals belong to no tenant',
  )
  await eventually(
    'the probe stored',
    async () => stored('INTERNAL_ROUTE_PROBE'),
    (rows) => total(rows) === 1,
  )
  await eventually(
    'the stream drained',
    () => redis.xlen(stream),
    (length) => length === 0,
  )
  assert.equal((await redis.xpending(stream, 'security-relay'))[0], 0, 'nothing left unacknowledged')
  assert.ok(
    compliance.received.every((request) => request.caller === 'api-gateway' && request.status === 202),
    'every delivery was signed, permitted and valid',
  )
})

test('two gateway replicas share one stream: every 429 is counted once in the stored events', async () => {
  await compliance.start()
  const replicas = [await startGateway({ RATE_LIMIT_ANONYMOUS_MAX: '3' }), await startGateway({ RATE_LIMIT_ANONYMOUS_MAX: '3' })]
  let refused = 0
  for (let i = 0; i < 40; i++) {
    // A caller of its own (another IP), so earlier tests' buckets do not interfere.
    const res = await replicas[i % 2]!.inject({ url: '/api/v1/venues', remoteAddress: '192.0.2.44' })
    if (res.statusCode === 429) refused++
  }
  assert.ok(refused >= 30, `most requests were rate limited (${refused})`)
  const limited = await eventually(
    'the 429s stored',
    async () => stored('RATE_LIMITED'),
    (rows) => total(rows) === refused,
  )
  assert.ok(limited.length <= 4, `one event per replica and window, give or take a tick (${limited.length})`)
  const metrics = await scrapeMetrics(replicas[0]!)
  assert.match(metrics, /^security_events_dropped_total\{service="api-gateway"\} 0$/m, 'the drop counter is exported, and nothing was dropped')
})

test('when even the buffer cannot be written, what is lost is counted in security_events_dropped_total', async () => {
  const app = createFastify({ service: 'api-gateway', logLevel: process.env.TEST_LOG_LEVEL ?? 'silent' })
  // A Redis nobody answers: the stream write fails and the reporter keeps the event in memory.
  await app.register(apiGateway, { config: loadConfig({ ...common, REDIS_URL: 'redis://127.0.0.1:9' }) })
  await app.ready()
  assert.equal((await app.inject({ url: '/api/v1/venues', headers: bearer('not.a.token') })).statusCode, 401)
  await app.close()
  const dropped = await app.metrics.registry.getSingleMetric('security_events_dropped_total')?.get()
  assert.equal(dropped?.values[0]?.value, 1, 'the one refusal still in memory at shutdown is counted')
})
