import { test } from 'node:test'
import assert from 'node:assert/strict'
import { maskSecret } from '../src/index.ts'

test('keeps a known Stripe prefix and the last 4 characters', () => {
  assert.equal(maskSecret('sk_test_51HqLyjWDarjtT1zdp7dcXGMe9f2a'), 'sk_test_…9f2a')
  assert.equal(maskSecret('sk_live_51HqLyjWDarjtT1zdp7dcXGMe0b1c'), 'sk_live_…0b1c')
  assert.equal(maskSecret('rk_test_51HqLyjWDarjtT1zdp7dcXGMe7777'), 'rk_test_…7777')
  assert.equal(maskSecret('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'), 'whsec_…LaSw')
})

test('keeps the Square EAAA prefix', () => {
  assert.equal(maskSecret('EAAAEOuLQPDGd5x0xxx2w0e3mLs1Dq4cRG4jL3ZdIiHc'), 'EAAA…IiHc')
})

test('a Mailchimp key keeps its data-centre suffix', () => {
  assert.equal(maskSecret('0123456789abcdef0123456789aba1b2-us21'), '…a1b2-us21')
  assert.equal(maskSecret('0123456789abcdef0123456789abcdef-us6'), '…cdef-us6')
})

test('values shorter than 12 characters reveal nothing', () => {
  for (const value of ['', 'a', 'hunter2', '12345678901']) {
    assert.equal(maskSecret(value), '••••')
  }
})

test('a known prefix with a short secret part shows the prefix only', () => {
  assert.equal(maskSecret('sk_test_abcd'), 'sk_test_••••')
  assert.equal(maskSecret('sk_test_abcdefghijk'), 'sk_test_••••')
  assert.equal(maskSecret('sk_test_abcdefghijkl'), 'sk_test_…ijkl')
})

test('other values of 12 characters or more show only the last 4', () => {
  assert.equal(maskSecret('123456789012'), '…9012')
  assert.equal(maskSecret('a-quickbooks-refresh-token-value-XYZW'), '…XYZW')
  // 32 hex without a data centre is not a Mailchimp API key: generic rule.
  assert.equal(maskSecret('0123456789abcdef0123456789abcdef'), '…cdef')
})

test('the mask never contains the hidden middle of the secret', () => {
  const secret = 'sk_live_THEHIDDENMIDDLEPART_1234'
  const masked = maskSecret(secret)
  assert.ok(!masked.includes('HIDDEN'))
  assert.ok(masked.length < secret.length)
})

test('counts characters, not UTF-16 units, so the tail is never half an emoji', () => {
  assert.equal(maskSecret('pässwörd-with-🔑🔑'), '…h-🔑🔑')
  assert.equal(maskSecret('🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑'), '••••')
})

test('a value that is not a string is fully masked', () => {
  assert.equal(maskSecret(undefined as unknown as string), '••••')
  assert.equal(maskSecret(12345678901234 as unknown as string), '••••')
})
