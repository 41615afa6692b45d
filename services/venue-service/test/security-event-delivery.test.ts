// venue-service's refusals reach compliance-service through its security-event outbox, also when
// compliance-service is down for a while: folded per caller and window, delivered exactly once.
// compliance-service is a fake serving its intake contract; the real one across processes is e2e/.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { bearer, eventually, setupSecurityEventDelivery, totalCount as total } from '@hub/service-kit/testing'
import { setupVenueTests } from './helpers.ts'

const { db, env, build } = await setupVenueTests()
const delivery = await setupSecurityEventDelivery({ source: 'venue-service', redisPrefix: env.REDIS_KEY_PREFIX ?? '' })
const { compliance } = delivery

const badTokens = () => delivery.stored('AUTH_TOKEN_INVALID')
const outbox = () =>
  db.adminQuery<{ id: string; count: number | null; delivered: boolean }>("select id, (event->>'count')::int as count, delivered_at is not null as delivered from venue.security_event_outbox where event->>'code' = 'AUTH_TOKEN_INVALID'")

test('200 bad tokens while compliance-service is down: a handful of outbox rows, then stored events counting 200, exactly once across a restart', async () => {
  // Short relay pauses keep the test quick; the reporter's own tick (1 s) is the production one.
  const venue = await build({ COMPLIANCE_SERVICE_URL: compliance.url, INTEGRATION_SERVICE_URL: 'http://127.0.0.1:9', SECURITY_RELAY_INTERVAL_MS: '100' })
  for (let i = 0; i < 200; i++) {
    assert.equal((await venue.inject({ url: '/api/v1/venues', headers: bearer('not.a.token') })).statusCode, 401)
  }
  const waiting = await eventually('the outbox holds the refusals', outbox, (rows) => total(rows) === 200)
  assert.ok(waiting.length <= 3, `a handful of outbox rows, not one per refusal (${waiting.length})`)
  assert.ok(
    waiting.every((row) => !row.delivered),
    'nothing is delivered while compliance-service is down',
  )

  // compliance-service comes up: the relay's next tick delivers.
  await compliance.start()
  const stored = await eventually(
    'stored by compliance-service',
    async () => badTokens(),
    (rows) => total(rows) === 200,
  )
  assert.equal(stored.length, waiting.length, 'one stored event per outbox row')
  assert.ok(
    stored.every((event) => event.tenantId == null),
    'anonymous refusals belong to no tenant',
  )
  await eventually('the outbox emptied once delivered', outbox, (rows) => rows.length === 0)
  assert.ok(
    compliance.received.every((request) => request.caller === 'venue-service' && request.status === 202),
    'every delivery was signed, permitted and valid',
  )

  // compliance-service goes away again; refusals go on within the same window.
  await compliance.stop()
  for (let i = 0; i < 25; i++) await venue.inject({ url: '/api/v1/venues', headers: bearer('not.a.token') })
  await eventually('the grown event is due again', outbox, (rows) => rows.length > 0 && rows.every((row) => !row.delivered) && rows.some((row) => row.count === 225))
  await compliance.start()
  const after = await eventually(
    'the grown count stored',
    async () => badTokens(),
    (rows) => total(rows) === 225,
  )
  assert.equal(after.length, stored.length, 'the same events, counted up: no new ones for repeats')
})
