// The security-event relay and a Redis that comes back empty (restart without persistence,
// failover): its consumer group went with the stream, and the relay recreates it instead of
// failing every delivery with NOGROUP until the process restarts.
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import { createFastify, serviceKit } from '../src/index.ts'
import { TEST_INTERNAL_KEYS, TEST_REDIS_URL, deleteRedisPrefix, listenLocal, testRedisPrefix } from '../src/testing/index.ts'

test('after the Redis keys are gone, the relay recreates its group and delivers the next refusals', async () => {
  const prefix = testRedisPrefix()
  const received: string[] = []
  const compliance = Fastify()
  compliance.post('/internal/security-events', async (request) => {
    const events = (request.body as { events: Array<{ code: string }> }).events
    received.push(...events.map((event) => event.code))
    return { accepted: events.length }
  })
  const complianceUrl = await listenLocal(compliance)
  const app = createFastify({ service: 'api-gateway', logLevel: 'silent' })
  await app.register(serviceKit, {
    service: 'api-gateway',
    redisUrl: TEST_REDIS_URL,
    redisPrefix: prefix,
    internal: { service: 'api-gateway', keysJson: JSON.stringify(TEST_INTERNAL_KEYS), permissions: {}, complianceUrl },
    securityEventBuffer: 'redis',
    securityEventWindowMs: 0,
    securityRelayIntervalMs: 0,
  })
  await app.ready()
  after(async () => {
    await app.close()
    await compliance.close()
    await deleteRedisPrefix(prefix)
  })

  const refuse = (code: string) => app.securityEvents.report({ type: 'AUTH_FAILURE', severity: 'low', source: 'api-gateway', code, tenantId: null, actor: null, ip: '203.0.113.7', method: 'GET', path: '/api/v1/venues', requestId: code })
  const delivered = async (code: string) => {
    const deadline = Date.now() + 15_000
    while (!received.includes(code)) {
      assert.ok(Date.now() < deadline, `${code} delivered`)
      await app.securityRelay.flush()
      await sleep(100)
    }
  }
  refuse('BEFORE_THE_LOSS')
  await delivered('BEFORE_THE_LOSS')
  await deleteRedisPrefix(prefix)
  refuse('AFTER_THE_LOSS')
  await delivered('AFTER_THE_LOSS')
})
