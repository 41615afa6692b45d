import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { distinctiveSecret, setupSettingsRig } from './settings-rig.ts'

const rig = await setupSettingsRig()
const base = '/api/v1/integrations/settings'

test('the 11th write of a user within a minute is refused with 429 problem+json and retry-after; nothing is stored', async (t) => {
  const { app } = await rig.build(t)
  const tenant = randomUUID()
  const venue = await rig.venue(tenant)
  const admin = rig.user(tenant, ['admin'])
  const writes = [
    { method: 'PUT' as const, url: `${base}/stripe`, payload: { settings: { payoutReporting: true } } },
    { method: 'PATCH' as const, url: `${base}/stripe`, payload: { settings: { syncSchedule: 'daily' } } },
    { method: 'POST' as const, url: `${base}/stripe/import`, payload: { settings: { payoutReporting: false } } },
    { method: 'POST' as const, url: `${base}/stripe/versions/1/rollback`, payload: {} },
    { method: 'PUT' as const, url: `${base}/square?venueId=${venue}`, payload: { settings: { locationIds: ['L1'] } } },
  ]
  for (let i = 0; i < 10; i++) {
    const write = writes[i % writes.length]!
    const response = await app.inject({ ...write, headers: admin })
    assert.equal(response.statusCode, 200, `write ${i + 1}: ${response.body}`)
    assert.equal(response.headers['x-ratelimit-remaining'], String(9 - i), `write ${i + 1} shows the budget left`)
  }
  const before = await rig.storedCounts(tenant)
  const refused = await app.inject({ method: 'PATCH', url: `${base}/stripe`, headers: admin, payload: { settings: { payoutReporting: true } } })
  assert.equal(refused.statusCode, 429, refused.body)
  assert.match(String(refused.headers['content-type']), /application\/problem\+json/)
  assert.equal(refused.json().code, 'RATE_LIMITED')
  const retryAfter = Number(refused.headers['retry-after'])
  assert.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after in seconds: ${refused.headers['retry-after']}`)
  assert.equal((await app.inject({ method: 'POST', url: `${base}/stripe/import`, headers: admin, payload: { settings: {} } })).statusCode, 429, 'every kind of write shares the budget')
  assert.deepEqual(await rig.storedCounts(tenant), before, 'a refused write stores and audits nothing')

  assert.equal((await app.inject({ url: `${base}/stripe`, headers: admin })).statusCode, 200, 'reads are not limited')
  assert.equal((await app.inject({ url: `${base}/stripe/versions`, headers: admin })).statusCode, 200)
  const connections = await app.inject({ url: '/api/v1/integrations/connections', headers: admin })
  assert.equal(connections.statusCode, 200, 'routes outside settings are not limited by it')
  assert.equal(connections.headers['x-ratelimit-limit'], undefined)
  const colleague = rig.user(tenant, ['admin'])
  assert.equal((await app.inject({ method: 'PATCH', url: `${base}/stripe`, headers: colleague, payload: { settings: { payoutReporting: true } } })).statusCode, 200, 'each user has their own budget')
  const keys = await app.redis.keys(`${app.redisPrefix}rl:settings:*`)
  assert.ok(keys.length >= 2, `counters live in Redis under the service prefix: ${keys.join(', ')}`)
})

test('decrypted secret reads have their own 10-a-minute budget; the 11th is refused and not audited', async (t) => {
  const { app } = await rig.build(t)
  const tenant = randomUUID()
  const admin = rig.user(tenant, ['admin'])
  const writer = await app.inject({ method: 'PUT', url: `${base}/quickbooks`, headers: admin, payload: { settings: { webhookVerifierToken: distinctiveSecret('limit') } } })
  assert.equal(writer.statusCode, 200, writer.body)
  const before = await rig.outboxCount(tenant)
  for (let i = 0; i < 10; i++) {
    const response = await app.inject({ url: `${base}/quickbooks/secrets/webhookVerifierToken`, headers: admin })
    assert.equal(response.statusCode, 200, `read ${i + 1}: ${response.body}`)
  }
  const refused = await app.inject({ url: `${base}/quickbooks/secrets/webhookVerifierToken`, headers: admin })
  assert.equal(refused.statusCode, 429, refused.body)
  assert.equal(refused.json().code, 'RATE_LIMITED')
  assert.ok(refused.headers['retry-after'], 'retry-after is set')
  assert.ok(!refused.body.includes('value'), 'no secret in the refusal')
  assert.equal(await rig.outboxCount(tenant), before + 10, 'one audit row per read that happened, none for the refusal')
  const write = await app.inject({ method: 'PATCH', url: `${base}/quickbooks`, headers: admin, payload: { settings: { syncSchedule: 'daily' } } })
  assert.equal(write.statusCode, 200, 'writes keep their own budget')
})

test('two replicas share one budget through Redis', async (t) => {
  const { app: first } = await rig.build(t)
  const { app: second } = await rig.build(t)
  const tenant = randomUUID()
  const admin = rig.user(tenant, ['admin'])
  for (let i = 0; i < 10; i++) {
    const app = i % 2 === 0 ? first : second
    const response = await app.inject({ method: 'PATCH', url: `${base}/mailchimp`, headers: admin, payload: { settings: { doubleOptIn: i % 2 === 0 } } })
    assert.equal(response.statusCode, 200, `write ${i + 1}: ${response.body}`)
  }
  assert.equal((await first.inject({ method: 'PATCH', url: `${base}/mailchimp`, headers: admin, payload: { settings: { doubleOptIn: true } } })).statusCode, 429)
  assert.equal((await second.inject({ method: 'PATCH', url: `${base}/mailchimp`, headers: admin, payload: { settings: { doubleOptIn: true } } })).statusCode, 429)
})
