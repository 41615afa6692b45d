import { test } from 'node:test'
import assert from 'node:assert/strict'
import { inspect } from 'node:util'
import { KeyRingError, SigningKeyRing, generateSigningKeyRingJson, verifySignature } from '../src/index.ts'

test('the highest version signs; an old public key still verifies what its key signed after a rotation', () => {
  const seeds = JSON.parse(generateSigningKeyRingJson([1, 2])) as Record<string, string>
  const before = SigningKeyRing.fromEnv(JSON.stringify({ 1: seeds['1'] }))
  const first = before.sign('digest one')
  assert.match(first.keyId, /^v1-[0-9a-f]{16}$/)
  const oldKey = before.publicKeys[0]
  assert.ok(oldKey)
  assert.equal(verifySignature(oldKey.publicKeyPem, 'digest one', first.signature), true)
  assert.equal(verifySignature(oldKey.publicKeyPem, 'digest one!', first.signature), false, 'another message does not verify')

  const after = SigningKeyRing.fromEnv(JSON.stringify({ 2: seeds['2'], 1: seeds['1'] }))
  assert.deepEqual(
    after.publicKeys.map((key) => key.keyId),
    [first.keyId, after.currentKeyId],
  )
  assert.match(after.currentKeyId, /^v2-/)
  const second = after.sign('digest two')
  assert.equal(second.keyId, after.currentKeyId)
  assert.equal(verifySignature(after.publicKeys[1]?.publicKeyPem ?? '', 'digest two', second.signature), true)
  assert.equal(verifySignature(oldKey.publicKeyPem, 'digest two', second.signature), false, 'the old key does not verify the new signature')
  assert.equal(after.publicKeys[0]?.publicKeyPem, oldKey.publicKeyPem, 'the same seed is the same published key')
})

test('a version reused with another seed gets another key id', () => {
  const a = SigningKeyRing.fromEnv(generateSigningKeyRingJson([1]))
  const b = SigningKeyRing.fromEnv(generateSigningKeyRingJson([1]))
  assert.notEqual(a.currentKeyId, b.currentKeyId)
})

test('bad values are refused with every problem named and no key material shown; a ring never prints its seeds', () => {
  const seed = (JSON.parse(generateSigningKeyRingJson([1])) as Record<string, string>)['1'] ?? ''
  for (const [value, expected] of [
    [undefined, /it is empty/],
    ['{"1": "' + seed, /not valid JSON/],
    ['[]', /not a JSON object/],
    ['{}', /no keys/],
    [JSON.stringify({ '01': seed, 2: 'c2hvcnQ=' }), /version "2": the key must be base64 of exactly 32 bytes; version "01" is not a positive integer version/],
  ] as const) {
    assert.throws(
      () => SigningKeyRing.fromEnv(value),
      (error: unknown) => error instanceof KeyRingError && /^AUDIT_SIGNING_KEYS is invalid: /.test(error.message) && expected.test(error.message) && !error.message.includes(seed),
    )
  }
  const ring = SigningKeyRing.fromEnv(JSON.stringify({ 1: seed }))
  for (const shown of [inspect(ring, { showHidden: true, depth: 5 }), JSON.stringify(ring)]) {
    assert.ok(!shown.includes(seed), 'the seed is not on the ring')
    assert.ok(!shown.includes(Buffer.from(seed, 'base64').toString('hex')))
  }
})
