// The audit images a service writes to its outbox never carry a secret, whatever the caller passed.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { auditImage, stripSecrets } from '../src/audit-outbox.ts'

test('secret-looking members are removed from audit images at any depth', () => {
  const image = { provider: 'stripe', credentials: { apiKey: 'sk_test_•••• 4242' }, nested: [{ name: 'a', webhookSecret: 'whsec_x', accessToken: 't', note: 'kept' }], apiKey: 'k', private_key: 'p', at: new Date(0) }
  assert.deepEqual(stripSecrets(image), { provider: 'stripe', nested: [{ name: 'a', note: 'kept' }], at: new Date(0) })
})

test('audit images carry no raw email: every email in a value or a member name is masked, secrets still removed', () => {
  const image = { email: 'Jane.Doe@Example.com', note: 'asked by ops@venue.co.uk twice', apiKey: 'sk_live_x', list: [{ 'a@b.io': 1 }], count: 3 }
  assert.deepEqual(JSON.parse(JSON.stringify(auditImage(image))), { email: 'J***@***.com', note: 'asked by o***@***.uk twice', list: [{ 'a***@***.io': 1 }], count: 3 })
})
