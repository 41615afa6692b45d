// Webhook intake as an anonymous caller sees it: an unknown connection id, a connection of
// another provider, a disconnected one and a bad signature are answered alike.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import type { ServiceInstance } from '@hub/service-kit'
import { eventually } from '@hub/service-kit/testing'
import { setupIntegrationTests } from '../helpers.ts'
import { mailchimpForm, seedConnection, squareDelivery, stripeDelivery } from './webhook-fixtures.ts'

const tests = await setupIntegrationTests()

/** What a caller can compare between two refusals: everything but the request id. */
async function answer(app: ServiceInstance, url: string, delivery: { headers: Record<string, string>; payload: string }) {
  const response = await app.inject({ method: 'POST', url, headers: delivery.headers, payload: delivery.payload })
  const body = response.json() as Record<string, unknown>
  return { status: response.statusCode, contentType: response.headers['content-type'], keys: Object.keys(body).sort(), code: body.code, title: body.title, detail: body.detail, type: body.type }
}

test('an unknown connection id and a bad signature get the same status, code and body', async () => {
  const app = await tests.build({ PUBLIC_URL: 'https://hub.example.test' })
  const stripe = await seedConnection(app, { provider: 'stripe', webhookSecret: 'whsec_known000000000000000000000001' })
  const square = await seedConnection(app, { provider: 'square', webhookSecret: 'square-signature-key-0001' })
  const mailchimp = await seedConnection(app, { provider: 'mailchimp', webhookSecret: 'mailchimp-secret-0001' })
  const gone = await seedConnection(app, { provider: 'stripe', webhookSecret: 'whsec_gone0000000000000000000000001' })
  await app.db.withTenant(gone.tenantId, (trx) => app.connections.update(trx, gone.id, { status: 'disconnected' }))

  const forged = stripeDelivery('whsec_attacker00000000000000000001')
  const badSignature = await answer(app, `/api/v1/integrations/webhooks/stripe/${stripe.id}`, forged)
  assert.equal(badSignature.status, 401)
  assert.equal(badSignature.code, 'WEBHOOK_SIGNATURE_INVALID')
  assert.deepEqual(await answer(app, `/api/v1/integrations/webhooks/stripe/${randomUUID()}`, forged), badSignature, 'unknown connection id')
  assert.deepEqual(await answer(app, `/api/v1/integrations/webhooks/stripe/${square.id}`, forged), badSignature, 'a connection of another provider')
  assert.deepEqual(await answer(app, `/api/v1/integrations/webhooks/stripe/${gone.id}`, forged), badSignature, 'a disconnected connection')

  const squarePath = (id: string) => `/api/v1/integrations/webhooks/square/${id}`
  const squareForged = squareDelivery('not-the-key', `https://hub.example.test${squarePath(square.id)}`)
  const squareBad = await answer(app, squarePath(square.id), squareForged)
  assert.deepEqual(await answer(app, squarePath(randomUUID()), squareForged), squareBad)

  const form = { headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: mailchimpForm({ 'data[list_id]': 'l1', 'data[email]': 'a@example.org' }) }
  const mailchimpBad = await answer(app, `/api/v1/integrations/webhooks/mailchimp/${mailchimp.id}?secret=guess`, form)
  assert.deepEqual(await answer(app, `/api/v1/integrations/webhooks/mailchimp/${randomUUID()}?secret=guess`, form), mailchimpBad)
  assert.deepEqual(mailchimpBad, badSignature)

  // The genuine delivery still goes through.
  const genuine = stripeDelivery('whsec_known000000000000000000000001')
  assert.equal((await app.inject({ method: 'POST', url: `/api/v1/integrations/webhooks/stripe/${stripe.id}`, headers: genuine.headers, payload: genuine.payload })).statusCode, 200)
})

test('a stored provider event publishes integration.webhook.received once: a redelivery of the same event id publishes nothing', async () => {
  const app = await tests.build({ PUBLIC_URL: 'https://hub.example.test' })
  const stripe = await seedConnection(app, { provider: 'stripe', webhookSecret: 'whsec_events00000000000000000000001' })
  const delivery = stripeDelivery('whsec_events00000000000000000000001', { id: 'evt_once0001', objectId: 'cus_events0001' })
  for (let i = 0; i < 2; i++) {
    const response = await app.inject({ method: 'POST', url: `/api/v1/integrations/webhooks/stripe/${stripe.id}`, headers: delivery.headers, payload: delivery.payload })
    assert.equal(response.statusCode, 200, response.body)
  }
  // Published when the stored event is handed to the queue, right after the answer.
  // Numbered by the relay or not yet: every one written.
  const received = async () =>
    (await app.db.withSystemScope(async (trx) => [...(await app.eventOutbox.listForScope(trx, stripe.id)), ...(await app.eventOutbox.unnumberedForScope(trx, stripe.id))])).filter((event) => event.type === 'integration.webhook.received')
  const handedOver = async () => (await app.db.withSystemScope((trx) => trx('integration.webhook_inbox').where({ connection_id: stripe.id }).whereNotNull('enqueued_at').select('id'))) as Array<{ id: string }>
  const [row] = await eventually('the hand-over to the queue', handedOver, (rows) => rows.length === 1)
  // Handed over again (the relay after a lost answer from Redis, say): still announced once.
  await app.syncEngine.enqueueWebhook({ tenantId: stripe.tenantId, connectionId: stripe.id, inboxId: String(row?.id) })
  const events = await received()
  assert.equal(events.length, 1)
  assert.deepEqual({ ...events[0]?.data, inboxId: undefined }, { inboxId: undefined, provider: 'stripe', eventType: 'customer.updated', entity: 'customer', externalId: 'cus_events0001' })
  assert.equal(events[0]?.connectionId, stripe.id)
})
