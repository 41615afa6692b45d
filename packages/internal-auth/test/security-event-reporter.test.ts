import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { Agent } from 'undici'
import { FormatRegistry } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { SecurityEventBatchSchema, type SecurityEventBatch } from '@hub/contracts'
import { createInternalClient, createSecurityEventReporter, signRequest, type InternalAuthRefusal } from '../src/index.ts'
import { buildApp, connectRedis, deleteKeys, SECRET_A1, SERVICE_A, uniquePrefix } from './helpers.ts'

// TypeBox's Value.Check knows no string formats until told; these mirror what the receiver enforces.
if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', (v) => /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i.test(v))
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v) && !Number.isNaN(Date.parse(v)))

const baseEvent = { type: 'RATE_LIMIT', severity: 'low', source: '', code: 'RATE_LIMITED', actor: 'user-1' } as const

describe('security event reporter', () => {
  let redis: Redis
  let prefix: string
  let receiver: FastifyInstance
  let baseUrl: string
  const agent = new Agent()
  const batches: SecurityEventBatch[] = []

  before(async () => {
    redis = connectRedis()
    prefix = uniquePrefix()
    receiver = await buildApp({ redis, noncePrefix: prefix }, (app) => {
      app.post('/internal/security-events', { config: { internalAuth: { permission: 'security-events:write' } } }, async (request, reply) => {
        batches.push(request.body as SecurityEventBatch)
        return reply.status(202).send({ accepted: (request.body as SecurityEventBatch).events.length })
      })
    })
    baseUrl = await receiver.listen({ port: 0, host: '127.0.0.1' })
  })
  after(async () => {
    await agent.destroy()
    await receiver.close()
    await deleteKeys(redis, prefix)
    await redis.quit()
  })

  function client(url = baseUrl) {
    return createInternalClient({ service: SERVICE_A, keyId: 'k1', secret: SECRET_A1, baseUrl: url, retries: 0, dispatcher: agent })
  }

  test('batches reported events and delivers them, valid against the contract, on close', async () => {
    batches.length = 0
    const reporter = createSecurityEventReporter({ client: client(), source: 'venue-service', flushIntervalMs: 60_000 })
    for (let i = 0; i < 3; i++) reporter.report({ ...baseEvent, requestId: `req-${i}`, path: `/x/${'p'.repeat(3000)}` })
    assert.equal(reporter.pending, 3)
    assert.equal(batches.length, 0, 'nothing is sent on the request path')
    await reporter.close()
    assert.equal(batches.length, 1)
    const events = batches[0]?.events ?? []
    assert.deepEqual(
      events.map((e) => e.requestId),
      ['req-0', 'req-1', 'req-2'],
    )
    for (const event of events) {
      assert.equal(event.source, 'venue-service')
      assert.equal(event.path?.length, 2048, 'oversized fields are clipped to the contract limit')
    }
    assert.ok(Value.Check(SecurityEventBatchSchema, { events }), 'batch matches SecurityEventBatchSchema')
  })

  test('a full batch is sent in the background without waiting for the timer', async () => {
    batches.length = 0
    const reporter = createSecurityEventReporter({ client: client(), source: 'venue-service', batchSize: 2, flushIntervalMs: 60_000 })
    reporter.report(baseEvent)
    reporter.report(baseEvent)
    await reporter.flush()
    assert.equal(batches.length, 1)
    assert.equal(batches[0]?.events.length, 2)
    await reporter.close()
  })

  test('the queue is bounded: beyond maxQueue distinct events fold into one coarser event, and past twice that they are dropped and counted', async () => {
    batches.length = 0
    const drops: number[] = []
    const reporter = createSecurityEventReporter({ client: client(), source: 'venue-service', maxQueue: 2, batchSize: 100, flushIntervalMs: 60_000, onDrop: (n) => drops.push(n) })
    for (let i = 0; i < 5; i++) reporter.report(baseEvent)
    assert.deepEqual([reporter.pending, reporter.dropped], [3, 0], 'two kept as they are, three folded into one')
    for (let i = 0; i < 5; i++) reporter.report({ ...baseEvent, code: `OTHER_${i}` })
    assert.equal(reporter.pending, 4, 'one more folded event fits under 2 × maxQueue')
    assert.equal(reporter.dropped, 4)
    assert.deepEqual(drops, [1, 1, 1, 1], 'every drop reaches the metric')
    await reporter.close()
    const folded = batches.flatMap((b) => b.events).find((e) => e.count === 3)
    assert.ok(folded, 'the folded event carries the count of what it stands for')
    assert.equal(folded.actor, null)
    assert.deepEqual(folded.details, { folded: true })
  })

  test('regression: a flush with nothing queued does not stop later flushes from sending', async () => {
    batches.length = 0
    const reporter = createSecurityEventReporter({ client: client(), source: 'venue-service', flushIntervalMs: 60_000 })
    await reporter.flush()
    reporter.report({ ...baseEvent, requestId: 'after-idle' })
    await reporter.flush()
    assert.deepEqual(
      batches.flatMap((b) => b.events.map((e) => e.requestId)),
      ['after-idle'],
      'the event reported after an idle flush is delivered by the next flush',
    )
    assert.equal(reporter.pending, 0)
    await reporter.close()
  })

  test('repeated refusals within the window become one event with a count and first/last seen', async () => {
    batches.length = 0
    const reporter = createSecurityEventReporter({ client: client(), source: 'api-gateway', windowMs: 60_000, flushIntervalMs: 60_000 })
    const anonymous = { type: 'AUTH_FAILURE', severity: 'medium', source: 'api-gateway', code: 'AUTH_TOKEN_INVALID', actor: null } as const
    for (let i = 0; i < 120; i++) reporter.report({ ...anonymous, ip: '203.0.113.7', requestId: `r${i}` })
    await reporter.flush()
    for (let i = 0; i < 80; i++) reporter.report({ ...anonymous, ip: '203.0.113.7', requestId: `s${i}` })
    reporter.report({ ...anonymous, ip: '198.51.100.1' })
    await reporter.close()
    const events = batches.flatMap((b) => b.events)
    const fromFlooder = events.filter((e) => e.ip === '203.0.113.7')
    assert.equal(new Set(fromFlooder.map((e) => e.id)).size, 1, 'one event id for the whole window')
    assert.deepEqual(
      fromFlooder.map((e) => e.count),
      [120, 200],
      'written again with the grown count, never once per refusal',
    )
    const last = fromFlooder.at(-1)
    assert.ok(last?.firstSeenAt && last.lastSeenAt && last.firstSeenAt <= last.lastSeenAt)
    assert.equal(events.filter((e) => e.ip === '198.51.100.1').length, 1, 'another IP is another event')
    assert.ok(Value.Check(SecurityEventBatchSchema, { events }), 'aggregated events match the contract')
  })

  test('an unreachable receiver never makes report or close throw; undelivered events are kept until close', async () => {
    const warnings: string[] = []
    const reporter = createSecurityEventReporter({
      client: client('http://127.0.0.1:1'),
      source: 'venue-service',
      flushIntervalMs: 60_000,
      logger: { warn: (_obj, msg) => warnings.push(String(msg)) },
    })
    reporter.report(baseEvent)
    await reporter.flush()
    assert.equal(reporter.pending, 1, 'a transient failure requeues the batch')
    await reporter.close()
    assert.equal(reporter.dropped, 1)
    assert.ok(warnings.includes('security events not delivered'))
    reporter.report(baseEvent)
    assert.equal(reporter.dropped, 2, 'reports after close are dropped, not thrown')
  })

  test('plugin refusals reach compliance through onRefusal → reporter', async () => {
    batches.length = 0
    const reporter = createSecurityEventReporter({ client: client(), source: 'integration-service', flushIntervalMs: 60_000 })
    const refused = new Promise<InternalAuthRefusal>((resolve) => {
      void buildApp({
        redis,
        noncePrefix: prefix,
        source: 'integration-service',
        onRefusal: (event) => {
          reporter.report(event)
          resolve(event)
        },
      }).then(async (app) => {
        const headers = signRequest({ service: 'ghost-service', keyId: 'k1', secret: SECRET_A1, method: 'GET', pathWithQuery: '/internal/items/1' })
        const res = await app.inject({ method: 'GET', url: '/internal/items/1', headers })
        assert.equal(res.statusCode, 401)
        await app.close()
      })
    })
    const event = await refused
    await reporter.close()
    assert.equal(batches.length, 1)
    const delivered = batches[0]?.events[0]
    assert.deepEqual([delivered?.id, delivered?.code, delivered?.actor, delivered?.details?.claimedService, delivered?.source], [event.id, 'INTERNAL_AUTH_UNKNOWN_SERVICE', null, 'ghost-service', 'integration-service'])
  })

  test('unsigned calls from one IP, each claiming another service, fold into one event; another IP stays apart', async () => {
    batches.length = 0
    const reporter = createSecurityEventReporter({ client: client(), source: 'integration-service', windowMs: 60_000, flushIntervalMs: 60_000 })
    const app = await buildApp({ redis, noncePrefix: prefix, source: 'integration-service', onRefusal: (event) => reporter.report(event) })
    try {
      const unsigned = (i: number, ip: string) => app.inject({ method: 'GET', url: '/internal/items/1', headers: { 'x-internal-service': `attacker-${i}` }, remoteAddress: ip })
      for (let i = 0; i < 300; i++) assert.equal((await unsigned(i, '203.0.113.7')).statusCode, 401)
      for (let i = 0; i < 3; i++) assert.equal((await unsigned(i, '198.51.100.9')).statusCode, 401)
      // Refusals reach onRefusal after the reply (setImmediate): let the last ones land.
      await new Promise((resolve) => setImmediate(resolve))
    } finally {
      await app.close()
    }
    await reporter.close()
    const events = batches.flatMap((b) => b.events)
    const byIp = (ip: string) => events.filter((e) => e.ip === ip)
    assert.deepEqual(
      byIp('203.0.113.7').map((e) => [e.code, e.actor, e.count]),
      [['INTERNAL_AUTH_MISSING_HEADERS', null, 300]],
      'one event counting 300, not one per claimed name',
    )
    assert.equal(byIp('203.0.113.7')[0]?.details?.claimedService, 'attacker-0', 'the claim is kept as a detail')
    assert.deepEqual(
      byIp('198.51.100.9').map((e) => e.count),
      [3],
    )
  })
})
