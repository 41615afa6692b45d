// Security events from the services that refuse requests to compliance-service's store, on real
// Postgres and Redis: through venue-service's outbox and the gateway's Redis stream, while
// compliance-service is down and after it comes back, folded per caller and window.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { signRequest } from '@hub/internal-auth'
import { createFastify, type ServiceInstance } from '@hub/service-kit'
import { TEST_INTERNAL_KEYS, TEST_REDIS_URL, bearer, createTestDatabase, deleteRedisPrefix, freePort, listenLocal, scrapeMetrics, testRedisPrefix, testServiceEnv, testToken } from '@hub/service-kit/testing'
import venueService from '../../venue-service/src/app.ts'
import { loadConfig as loadVenueConfig } from '../../venue-service/src/config.ts'
import { VENUE_SCHEMA } from '../../venue-service/src/db/schema.ts'
import apiGateway from '../../api-gateway/src/app.ts'
import { loadConfig as loadGatewayConfig } from '../../api-gateway/src/config.ts'
import complianceService from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { COMPLIANCE_SCHEMA } from '../src/db/schema.ts'

const db = await createTestDatabase([VENUE_SCHEMA, COMPLIANCE_SCHEMA])
const prefix = testRedisPrefix()
const redis = new Redis(TEST_REDIS_URL)
const operatorTenant = randomUUID()
// Short relay pauses keep the test quick; the reporter's own tick (1 s) is the production one.
const common = { ...testServiceEnv(prefix), SECURITY_RELAY_INTERVAL_MS: '100' }
const apps: ServiceInstance[] = []
test.after(async () => {
  await Promise.all(apps.map((app) => app.close().catch(() => undefined)))
  redis.disconnect()
  await db.drop()
  await deleteRedisPrefix(prefix)
})

const compliancePort = await freePort()
const complianceUrl = `http://127.0.0.1:${compliancePort}`
const dead = 'http://127.0.0.1:9'

async function startCompliance(): Promise<ServiceInstance> {
  const app = createFastify({ service: 'compliance-service', logLevel: process.env.TEST_LOG_LEVEL ?? 'silent' })
  await app.register(complianceService, {
    config: loadConfig({ ...common, DATABASE_URL: db.urlFor(COMPLIANCE_SCHEMA.appRole), INTEGRATION_SERVICE_URL: dead, SYNC_LOG_CONSUMER: 'false', OPERATOR_TENANT_IDS: operatorTenant }),
  })
  apps.push(app)
  await listenLocal(app, compliancePort)
  return app
}

async function startVenue(): Promise<ServiceInstance> {
  const app = createFastify({ service: 'venue-service', logLevel: process.env.TEST_LOG_LEVEL ?? 'silent' })
  await app.register(venueService, { config: loadVenueConfig({ ...common, DATABASE_URL: db.urlFor(VENUE_SCHEMA.appRole), COMPLIANCE_SERVICE_URL: complianceUrl, INTEGRATION_SERVICE_URL: dead }) })
  await app.ready()
  apps.push(app)
  return app
}

async function startGateway(): Promise<ServiceInstance> {
  const app = createFastify({ service: 'api-gateway', logLevel: process.env.TEST_LOG_LEVEL ?? 'silent' })
  await app.register(apiGateway, { config: loadGatewayConfig({ ...common, VENUE_SERVICE_URL: dead, INTEGRATION_SERVICE_URL: dead, COMPLIANCE_SERVICE_URL: complianceUrl, RATE_LIMIT_ANONYMOUS_MAX: '10000' }) })
  await app.ready()
  apps.push(app)
  return app
}

async function eventually<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let value = await read()
  while (!done(value)) {
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(value)} after ${timeoutMs} ms`)
    await sleep(100)
    value = await read()
  }
  return value
}

interface StoredEvent {
  id: string
  count: number
  tenant_id: string | null
  code: string
}
const storedFrom = (source: string, code: string) =>
  db.adminQuery<StoredEvent>('select id, count, tenant_id, code from compliance.security_events where source = $1 and code = $2 order by occurred_at', [source, code])
const total = (rows: { count: number }[]) => rows.reduce((sum, row) => sum + row.count, 0)
const badToken = bearer('not.a.token')

test('200 bad tokens at venue-service while compliance-service is down: one outbox row, then one stored event with count 200, exactly once across a restart', async () => {
  const venue = await startVenue()
  for (let i = 0; i < 200; i++) {
    assert.equal((await venue.inject({ url: '/api/v1/venues', headers: badToken })).statusCode, 401)
  }
  const outbox = () => db.adminQuery<{ id: string; count: number | null; delivered: boolean }>("select id, (event->>'count')::int as count, delivered_at is not null as delivered from venue.security_event_outbox where event->>'code' = 'AUTH_TOKEN_INVALID'")
  const waiting = await eventually('the outbox holds the refusals', outbox, (rows) => total(rows.map((r) => ({ count: r.count ?? 1 }))) === 200)
  assert.ok(waiting.length <= 3, `a handful of outbox rows, not one per refusal (${waiting.length})`)
  assert.ok(
    waiting.every((row) => !row.delivered),
    'nothing is delivered while compliance-service is down',
  )

  // compliance-service comes up: the relay's next tick delivers.
  let compliance = await startCompliance()
  const stored = await eventually('stored by compliance-service', () => storedFrom('venue-service', 'AUTH_TOKEN_INVALID'), (rows) => total(rows) === 200)
  assert.equal(stored.length, waiting.length, 'one stored event per outbox row')
  assert.deepEqual(
    stored.map((row) => row.tenant_id),
    stored.map(() => null),
    'anonymous refusals belong to no tenant',
  )
  await eventually('the outbox emptied once delivered', outbox, (rows) => rows.length === 0)

  // compliance-service goes away again; refusals go on within the same window.
  await compliance.close()
  for (let i = 0; i < 25; i++) await venue.inject({ url: '/api/v1/venues', headers: badToken })
  await eventually('the grown event is due again', outbox, (rows) => rows.length > 0 && rows.every((row) => !row.delivered) && rows.some((row) => row.count === 225))
  compliance = await startCompliance()
  const after = await eventually('the grown count stored', () => storedFrom('venue-service', 'AUTH_TOKEN_INVALID'), (rows) => total(rows) === 225)
  assert.equal(after.length, stored.length, 'the same stored events, counted up: no new rows for repeats')
})

test('the gateway buffers its refusals in Redis while compliance-service is down, and delivers each window once when it is back', async () => {
  const gateway = await startGateway()
  const stream = `${prefix}security-events`
  // compliance-service is down (the first test left it running: stop it).
  for (const app of apps.filter((a) => a.hasDecorator('securityEventStore'))) await app.close()
  for (let i = 0; i < 200; i++) {
    assert.equal((await gateway.inject({ url: '/api/v1/venues', headers: badToken })).statusCode, 401)
  }
  assert.equal((await gateway.inject({ url: '/api/v1/%69nternal/sync-logs' })).statusCode, 404)
  const buffered = await eventually(
    'the Redis stream holds the refusals',
    async () => (await redis.xrange(stream, '-', '+')).map(([, fields]) => JSON.parse(fields[1] ?? '{}') as { code: string; count?: number; id: string }),
    (entries) => entries.some((e) => e.code === 'INTERNAL_ROUTE_PROBE') && entries.filter((e) => e.code === 'AUTH_TOKEN_INVALID').some((e) => (e.count ?? 1) === 200),
  )
  assert.ok(buffered.length <= 6, `a handful of stream entries, not one per refusal (${buffered.length})`)

  await startCompliance()
  const stored = await eventually('stored by compliance-service', () => storedFrom('api-gateway', 'AUTH_TOKEN_INVALID'), (rows) => total(rows) === 200)
  assert.ok(stored.length <= 3, `a handful of stored events (${stored.length})`)
  await eventually('the probe stored', () => storedFrom('api-gateway', 'INTERNAL_ROUTE_PROBE'), (rows) => total(rows) === 1)
  await eventually('the stream drained', () => redis.xlen(stream), (length) => length === 0)
  assert.equal((await redis.xpending(stream, 'security-relay'))[0], 0, 'nothing left unacknowledged')
})

test('visibility: a tenant admin sees its own tenant events only; tenantless events are for operator admins', async () => {
  const compliance = apps.filter((a) => a.hasDecorator('securityEventStore')).at(-1)
  assert.ok(compliance)
  const venue = await startVenue()
  const tenantA = randomUUID()
  const tenantB = randomUUID()
  // A viewer of tenant A tries an admin action: a FORBIDDEN event of tenant A.
  const viewer = bearer(testToken({ tenantId: tenantA, roles: ['viewer'], sub: 'viewer-a' }))
  for (let i = 0; i < 3; i++) {
    const refused = await venue.inject({ method: 'POST', url: '/api/v1/venues', headers: viewer, payload: { name: 'x', timezone: 'Europe/London', currency: 'GBP' } })
    assert.equal(refused.statusCode, 403)
  }
  await eventually('the 403s stored', () => storedFrom('venue-service', 'INSUFFICIENT_ROLE'), (rows) => total(rows) === 3)

  const list = async (tenantId: string, query = '') => compliance.inject({ url: `/api/v1/compliance/security-events${query}`, headers: bearer(testToken({ tenantId, roles: ['admin'] })) })
  const adminA = (await list(tenantA)).json() as { data: { tenantId: string | null; code: string; count: number; firstSeenAt: string; lastSeenAt: string }[] }
  assert.deepEqual(
    adminA.data.map((e) => [e.tenantId, e.code, e.count]),
    [[tenantA, 'INSUFFICIENT_ROLE', 3]],
    "tenant A's admin sees its one folded event and nothing else",
  )
  assert.ok((adminA.data[0]?.firstSeenAt ?? '') <= (adminA.data[0]?.lastSeenAt ?? ''))
  assert.deepEqual((await list(tenantB)).json().data, [], "tenant B's admin sees none of it")

  const refusedSystem = await list(tenantA, '?scope=system')
  assert.equal(refusedSystem.statusCode, 403)
  assert.equal(refusedSystem.json().code, 'OPERATOR_ONLY')
  const operator = await list(operatorTenant, '?scope=system&limit=500')
  assert.equal(operator.statusCode, 200)
  const systemEvents = operator.json().data as { tenantId: string | null; source: string; code: string }[]
  assert.ok(
    systemEvents.some((e) => e.source === 'api-gateway' && e.code === 'AUTH_TOKEN_INVALID'),
    'the operator sees the anonymous gateway refusals',
  )
  assert.ok(
    systemEvents.every((e) => e.tenantId === null),
    'the system scope holds tenantless events only',
  )
  // An admin of a tenant probing the system scope is itself a security event of that tenant.
  await eventually('the refused probe stored', () => storedFrom('compliance-service', 'OPERATOR_ONLY'), (rows) => rows.some((row) => row.tenant_id === tenantA))
})

test('two gateway replicas share one stream: every 429 is counted once in the stored events', async () => {
  const limited = { RATE_LIMIT_ANONYMOUS_MAX: '3' }
  const build = async () => {
    const app = createFastify({ service: 'api-gateway', logLevel: process.env.TEST_LOG_LEVEL ?? 'silent' })
    await app.register(apiGateway, { config: loadGatewayConfig({ ...common, ...limited, VENUE_SERVICE_URL: dead, INTEGRATION_SERVICE_URL: dead, COMPLIANCE_SERVICE_URL: complianceUrl }) })
    await app.ready()
    apps.push(app)
    return app
  }
  const replicas = [await build(), await build()]
  let refused = 0
  for (let i = 0; i < 40; i++) {
    // A caller of its own (another IP), so earlier tests' buckets do not interfere.
    const res = await replicas[i % 2]!.inject({ url: '/api/v1/venues', remoteAddress: '192.0.2.44' })
    if (res.statusCode === 429) refused++
  }
  assert.ok(refused >= 30, `most requests were rate limited (${refused})`)
  const stored = await eventually(
    'the 429s stored',
    () => db.adminQuery<StoredEvent>("select id, count, tenant_id, code from compliance.security_events where source = 'api-gateway' and code = 'RATE_LIMITED'"),
    (rows) => total(rows) === refused,
  )
  assert.ok(stored.length <= 4, `one event per replica and window, give or take a tick (${stored.length})`)
  const metrics = { body: await scrapeMetrics(replicas[0]!) }
  assert.match(metrics.body, /^security_events_dropped_total\{service="api-gateway"\} 0$/m, 'the drop counter is exported, and nothing was dropped')
})

test('when even the buffer cannot be written, what is lost is counted in security_events_dropped_total', async () => {
  const app = createFastify({ service: 'api-gateway', logLevel: process.env.TEST_LOG_LEVEL ?? 'silent' })
  // A Redis nobody answers: the stream write fails and the reporter keeps the event in memory.
  await app.register(apiGateway, { config: loadGatewayConfig({ ...common, REDIS_URL: 'redis://127.0.0.1:9', VENUE_SERVICE_URL: dead, INTEGRATION_SERVICE_URL: dead, COMPLIANCE_SERVICE_URL: complianceUrl }) })
  await app.ready()
  assert.equal((await app.inject({ url: '/api/v1/venues', headers: badToken })).statusCode, 401)
  await app.close()
  const dropped = await app.metrics.registry.getSingleMetric('security_events_dropped_total')?.get()
  assert.equal(dropped?.values[0]?.value, 1, 'the one refusal still in memory at shutdown is counted')
})

test('intake keeps the highest count of an event: copies in one batch, resends and late lower counts never add rows or lower it', async () => {
  const compliance = apps.filter((a) => a.hasDecorator('securityEventStore') && a.server.listening).at(-1) ?? (await startCompliance())
  const id = randomUUID()
  const base = { id, type: 'AUTH_FAILURE', severity: 'medium', source: 'venue-service', code: 'INTAKE_TEST', ip: '203.0.113.9', occurredAt: '2026-01-01T00:00:00.000Z' }
  const copy = (count: number, last: string) => ({ ...base, count, firstSeenAt: base.occurredAt, lastSeenAt: last })
  const post = (events: object[]) => {
    const body = JSON.stringify({ events })
    const headers = signRequest({ service: 'venue-service', keyId: 'k1', secret: TEST_INTERNAL_KEYS['venue-service'].k1, method: 'POST', pathWithQuery: '/internal/security-events', body }) as unknown as Record<string, string>
    return compliance.inject({ method: 'POST', url: '/internal/security-events', payload: body, headers: { 'content-type': 'application/json', ...headers } })
  }
  const first = await post([copy(5, '2026-01-01T00:00:05.000Z'), copy(9, '2026-01-01T00:00:09.000Z')])
  assert.deepEqual(first.json(), { accepted: 1, duplicates: 1 })
  assert.deepEqual((await post([copy(3, '2026-01-01T00:00:03.000Z')])).json(), { accepted: 0, duplicates: 1 }, 'a late, lower copy')
  assert.deepEqual((await post([copy(12, '2026-01-01T00:00:12.000Z')])).json(), { accepted: 0, duplicates: 1 })
  const rows = await db.adminQuery<{ count: number; first_seen_at: Date; last_seen_at: Date }>('select count, first_seen_at, last_seen_at from compliance.security_events where id = $1', [id])
  assert.deepEqual(
    rows.map((row) => [row.count, row.first_seen_at.toISOString(), row.last_seen_at.toISOString()]),
    [[12, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:12.000Z']],
  )
})
