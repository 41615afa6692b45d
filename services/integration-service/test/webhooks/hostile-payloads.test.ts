// Signed provider deliveries whose contents the hub cannot store must never be a 5xx: a provider
// retries a 5xx for days. Too deep is a 400; unstorable strings are acknowledged and dropped.
import assert from 'node:assert/strict'
import { createHmac, randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { setupSyncRig } from '../sync/sync-rig.ts'

const rig = await setupSyncRig({ sims: { stripe: { recordsPerEntity: 1 } } })

function signed(secret: string, body: string): Record<string, string> {
  const t = Math.floor(Date.now() / 1000)
  const v1 = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')
  return { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${v1}` }
}

const event = (overrides: Record<string, unknown> = {}, object: Record<string, unknown> = { id: 'cus_1', object: 'customer', name: 'Ann' }) =>
  JSON.stringify({ id: `evt_${randomUUID().replaceAll('-', '')}`, object: 'event', type: 'customer.updated', created: Math.floor(Date.now() / 1000), data: { object }, ...overrides })

test('signed Stripe events with an out-of-range created, NUL bytes, lone surrogates or deep nesting are never a 5xx', async () => {
  // Several apps share this process in tests: do not let a stalled loop answer 503 (see testServiceEnv).
  const app = await rig.build({ MAX_EVENT_LOOP_DELAY_MS: '0' })
  const tenantId = randomUUID()
  const account = await rig.account('stripe')
  const secret = `whsec_${randomUUID().replaceAll('-', '')}`
  const connection = await rig.connect(app, { tenantId, provider: 'stripe', ...account, secrets: { ...account.secrets, webhookSecret: secret } })
  const url = `/api/v1/integrations/webhooks/stripe/${connection.id}`
  const post = (body: string) => app.inject({ method: 'POST', url, headers: signed(secret, body), payload: body })
  const inbox = async () => (await rig.db.adminQuery<{ n: string }>('select count(*) as n from integration.webhook_inbox where connection_id = $1', [connection.id]))[0]?.n

  for (const created of [1e20, -1e15, 253402300800]) {
    const response = await post(event({ created }))
    assert.equal(response.statusCode, 200, `created ${created}: ${response.body}`)
    assert.equal(response.json().received, 1)
  }
  assert.equal(await inbox(), '3', 'stored, with no occurredAt')

  for (const name of ['a\u0000b', '\ud800', 'x\udc00']) {
    const response = await post(event({}, { id: 'cus_1', object: 'customer', name }))
    assert.equal(response.statusCode, 200, response.body)
    assert.deepEqual(response.json(), { received: 0, duplicates: 0, ignored: 1 }, 'acknowledged and dropped')
  }
  const nulId = await post(event({ id: 'evt_\u0000' }))
  assert.deepEqual(nulId.json(), { received: 0, duplicates: 0, ignored: 1 })
  assert.equal(await inbox(), '3', 'nothing unstorable reached the inbox')

  const deep = `{"id":"evt_deep","object":"event","type":"customer.updated","created":1,"data":{"object":${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}}}`
  const refused = await post(deep)
  assert.equal(refused.statusCode, 400)
  assert.equal(refused.json().code, 'WEBHOOK_PAYLOAD_TOO_DEEP')
  assert.equal(refused.headers['content-type'], 'application/problem+json')
})
