// Names a client chooses (form fields of a Mailchimp delivery, query keys, settings keys, field
// mapping paths) never reach Object.prototype, and one tenant's crafted request leaves every
// other tenant's requests working.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { bearer, testToken } from '@hub/service-kit/testing'
import { setupIntegrationTests } from '../helpers.ts'
import { mailchimpForm, seedConnection, stripeDelivery } from './webhook-fixtures.ts'

const tests = await setupIntegrationTests()
const polluted = () => (Object.prototype as Record<string, unknown>).polluted

test('a Mailchimp delivery naming __proto__ or constructor pollutes nothing, and other tenants carry on', async (t) => {
  t.after(() => {
    delete (Object.prototype as Record<string, unknown>).polluted
  })
  const app = await tests.build()
  const secret = 'mailchimp-hook-secret-0001'
  const attacker = await seedConnection(app, { provider: 'mailchimp', webhookSecret: secret })
  const stripeSecret = 'whsec_victim0000000000000000000001'
  const victim = await seedConnection(app, { provider: 'stripe', webhookSecret: stripeSecret })

  const body = `${mailchimpForm({ 'data[list_id]': 'list0001', 'data[email]': 'a@example.org' })}&data[__proto__][polluted]=yes&data[constructor][prototype][polluted]=yes&__proto__[polluted]=yes`
  const response = await app.inject({ method: 'POST', url: `/api/v1/integrations/webhooks/mailchimp/${attacker.id}?secret=${secret}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: body })
  assert.equal(response.statusCode, 200, response.body)
  assert.equal(polluted(), undefined, 'Object.prototype is untouched')
  assert.equal(({} as Record<string, unknown>).polluted, undefined)
  const [row] = await tests.db.adminQuery<{ payload: Record<string, unknown> }>('select payload from integration.webhook_inbox where connection_id = $1', [attacker.id])
  assert.deepEqual(Object.keys(row?.payload ?? {}).sort(), ['data', 'fired_at', 'type'])
  assert.deepEqual(Object.keys((row?.payload.data ?? {}) as object).sort(), ['email', 'list_id'], 'the unsafe names were dropped, not stored')

  const delivery = stripeDelivery(stripeSecret)
  const victimHook = await app.inject({ method: 'POST', url: `/api/v1/integrations/webhooks/stripe/${victim.id}`, headers: delivery.headers, payload: delivery.payload })
  assert.equal(victimHook.statusCode, 200, victimHook.body)
  const list = await app.inject({ method: 'GET', url: '/api/v1/integrations/connections', headers: bearer(testToken({ tenantId: victim.tenantId, roles: ['admin'] })) })
  assert.equal(list.statusCode, 200, list.body)
  assert.equal(list.json().data.length, 1)
})

test('query keys naming __proto__ or constructor are refused and change no prototype', async () => {
  const app = await tests.build()
  const headers = bearer(testToken({ tenantId: randomUUID(), roles: ['admin'] }))
  for (const query of ['__proto__[polluted]=yes', 'constructor[prototype][polluted]=yes', '__proto__.polluted=yes']) {
    const response = await app.inject({ method: 'GET', url: `/api/v1/integrations/connections?${query}`, headers })
    assert.equal(response.statusCode, 400, `${query}: ${response.body}`)
    assert.match(String(response.headers['content-type']), /application\/problem\+json/)
    assert.equal(polluted(), undefined, query)
  }
})

test('settings import and field mappings with __proto__, constructor or prototype keys answer 400', async () => {
  const app = await tests.build()
  const headers = { ...bearer(testToken({ tenantId: randomUUID(), roles: ['admin'] })), 'content-type': 'application/json' }
  for (const settings of ['{"__proto__":{"polluted":"yes"}}', '{"constructor":{"prototype":{"polluted":"yes"}}}', '{"prototype":{"polluted":"yes"}}']) {
    const response = await app.inject({ method: 'POST', url: '/api/v1/integrations/settings/stripe/import', headers, payload: `{"settings":${settings}}` })
    assert.equal(response.statusCode, 400, `${settings}: ${response.body}`)
    assert.match(String(response.headers['content-type']), /application\/problem\+json/)
    assert.equal(polluted(), undefined)
  }
  const mapping = { provider: 'stripe', entity: 'customer', sourcePath: 'metadata.tier', targetField: 'loyaltyTier', transform: 'none' }
  for (const change of [{ sourcePath: '__proto__.polluted' }, { sourcePath: 'metadata.constructor.prototype' }, { sourcePath: 'prototype' }, { targetField: 'constructor' }, { targetField: 'prototype' }]) {
    const response = await app.inject({ method: 'POST', url: '/api/v1/integrations/field-mappings', headers, payload: { ...mapping, ...change } })
    assert.equal(response.statusCode, 400, `${JSON.stringify(change)}: ${response.body}`)
    assert.equal(response.json().code, 'VALIDATION_FAILED')
  }
  const fine = await app.inject({ method: 'POST', url: '/api/v1/integrations/field-mappings', headers, payload: mapping })
  assert.equal(fine.statusCode, 201, fine.body)
})
