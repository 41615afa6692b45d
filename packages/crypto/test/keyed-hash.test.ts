import assert from 'node:assert/strict'
import { test } from 'node:test'
import { KeyRing, generateKeyRingJson, keyedHash } from '../src/index.ts'

test('a keyed hash is stable for one key and purpose, and differs across versions, purposes and rings', () => {
  const ring = KeyRing.fromEnv(generateKeyRingJson([1, 2]))
  const other = KeyRing.fromEnv(generateKeyRingJson([1]))
  const a = keyedHash(ring, 1, 'subject', 'email:ada@example.com')
  assert.match(a, /^[0-9a-f]{64}$/)
  assert.equal(keyedHash(ring, 1, 'subject', 'email:ada@example.com'), a)
  assert.notEqual(keyedHash(ring, 2, 'subject', 'email:ada@example.com'), a)
  assert.notEqual(keyedHash(ring, 1, 'other', 'email:ada@example.com'), a)
  assert.notEqual(keyedHash(other, 1, 'subject', 'email:ada@example.com'), a)
  assert.throws(() => keyedHash(ring, 3, 'subject', 'x'), RangeError)
})
