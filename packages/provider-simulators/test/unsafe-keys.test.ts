// The simulators parse names their callers choose (Stripe form keys, Mailchimp `fields` paths):
// none of them may reach Object.prototype.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setPath } from '@hub/contracts'
import { project } from '../src/mailchimp/mailchimp-projection.ts'
import { parseStripeForm } from '../src/stripe/stripe-form.ts'

const polluted = () => (Object.prototype as Record<string, unknown>).polluted

test('Mailchimp fields and exclude_fields paths naming __proto__ or constructor pollute nothing', (t) => {
  t.after(() => {
    delete (Object.prototype as Record<string, unknown>).polluted
  })
  const body = { id: 'm1', email_address: 'a@example.org' }
  assert.deepEqual(project(body, '__proto__.polluted,id', undefined), { id: 'm1' })
  assert.deepEqual(project(body, 'constructor.prototype.polluted,email_address', '__proto__.polluted'), { email_address: 'a@example.org' })
  assert.equal(polluted(), undefined)
})

test('Stripe form keys naming __proto__, constructor or prototype are dropped', () => {
  const form = parseStripeForm('metadata[__proto__][polluted]=yes&constructor[prototype][polluted]=yes&name=ok')
  assert.equal(polluted(), undefined)
  assert.equal(form.name, 'ok')
  assert.equal(Object.keys(form).includes('constructor'), false)
  assert.deepEqual(Object.keys(form.metadata ?? {}), [])
})

test('setPath builds null-prototype levels and refuses unsafe segments', () => {
  const root: Record<string, unknown> = {}
  assert.equal(setPath(root, ['a', '__proto__', 'polluted'], 'yes'), false)
  assert.equal(setPath(root, ['constructor', 'prototype', 'polluted'], 'yes'), false)
  assert.equal(setPath(root, ['a', 'b'], 'c'), true)
  assert.equal(Object.getPrototypeOf(root.a), null)
  assert.equal((root.a as Record<string, unknown>).b, 'c')
  assert.deepEqual(Object.keys(root), ['a'])
  assert.equal(polluted(), undefined)
})
