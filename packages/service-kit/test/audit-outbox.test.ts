// The audit images a service writes to its outbox never carry a secret, whatever the caller passed.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { stripSecrets } from '../src/audit-outbox.ts'

test('secret-looking members are removed from audit images at any depth', () => {
  const image = { provider: 'stripe', credentials: { apiKey: 'sk_test_•••• 4242' }, nested: [{ name: 'a', webhookSecret: 'whsec_x', accessToken: 't', note: 'kept' }], apiKey: 'k', private_key: 'p', at: new Date(0) }
  assert.deepEqual(stripSecrets(image), { provider: 'stripe', nested: [{ name: 'a', note: 'kept' }], at: new Date(0) })
})
