import { test } from 'node:test'
import assert from 'node:assert/strict'
import { inspect } from 'node:util'
import { KeyRing, KeyRingError, generateKey, generateKeyRingJson } from '../src/index.ts'

const KEY_1 = generateKey()
const KEY_2 = generateKey()

function assertRejected(value: string | undefined, expected: RegExp, secrets: readonly string[] = []): KeyRingError {
  let caught: unknown
  try {
    KeyRing.fromEnv(value)
  } catch (err) {
    caught = err
  }
  assert.ok(caught instanceof KeyRingError, `expected a KeyRingError for ${String(value)}`)
  assert.equal(caught.code, 'KEY_RING_INVALID')
  assert.match(caught.message, /^ENCRYPTION_KEYS is invalid: /)
  assert.match(caught.message, expected)
  for (const secret of secrets) {
    for (const shown of [caught.message, String(caught), caught.stack ?? '', inspect(caught)]) {
      assert.ok(!shown.includes(secret), 'error text must not contain key material')
      assert.ok(!shown.includes(Buffer.from(secret, 'base64').toString('hex')), 'error text must not contain key bytes')
    }
  }
  return caught
}

test('the highest version is current, every version is held', () => {
  const ring = KeyRing.fromEnv(JSON.stringify({ 2: KEY_2, 1: KEY_1 }))
  assert.equal(ring.currentVersion, 2)
  assert.deepEqual(ring.versions, [1, 2])
  assert.equal(ring.has(1), true)
  assert.equal(ring.has(2), true)
  assert.equal(ring.has(3), false)
})

test('versions are ordered numerically, not as strings', () => {
  const ring = KeyRing.fromEnv(JSON.stringify({ 9: KEY_1, 10: KEY_2 }))
  assert.equal(ring.currentVersion, 10)
  assert.deepEqual(ring.versions, [9, 10])
})

test('accepts URL-safe base64 keys as well as standard ones', () => {
  const urlSafe = Buffer.from(KEY_1, 'base64').toString('base64url')
  const ring = KeyRing.fromEnv(JSON.stringify({ 1: urlSafe }))
  assert.deepEqual(ring.versions, [1])
})

test('a key ring printed, logged or serialised shows versions but no key material', () => {
  const ring = KeyRing.fromEnv(JSON.stringify({ 1: KEY_1, 2: KEY_2 }))
  for (const shown of [JSON.stringify(ring), inspect(ring, { depth: 10, showHidden: true }), String(Object.entries(ring))]) {
    assert.ok(!shown.includes(KEY_1) && !shown.includes(KEY_2))
  }
  assert.deepEqual(JSON.parse(JSON.stringify(ring)), { currentVersion: 2, versions: [1, 2] })
})

test('rejects an unset or empty ENCRYPTION_KEYS', () => {
  assertRejected(undefined, /it is empty/)
  assertRejected('', /it is empty/)
  assertRejected('   ', /it is empty/)
  assertRejected('{}', /it has no keys/)
})

test('rejects ENCRYPTION_KEYS that is not JSON without quoting it', () => {
  const truncated = `{"1":"${KEY_1}`
  assertRejected(truncated, /it is not valid JSON/, [KEY_1])
  assertRejected(`{1:"${KEY_1}"}`, /it is not valid JSON/, [KEY_1])
})

test('rejects a bare key with a hint on how to wrap it', () => {
  assertRejected(KEY_1, /looks like a bare key; wrap it as \{"1":"<key>"\}/, [KEY_1])
})

test('rejects JSON that is not an object', () => {
  assertRejected(JSON.stringify([KEY_1]), /it is JSON an array/, [KEY_1])
  assertRejected(JSON.stringify(KEY_1), /it is JSON a string/, [KEY_1])
  assertRejected('null', /it is JSON null/)
})

test('rejects a key of the wrong length, naming the version and the length', () => {
  const short = Buffer.alloc(16, 7).toString('base64')
  const long = Buffer.alloc(33, 7).toString('base64')
  assertRejected(JSON.stringify({ 3: short }), /version "3": the key decodes to 16 bytes, expected exactly 32/, [short])
  assertRejected(JSON.stringify({ 4: long }), /version "4": the key decodes to 33 bytes, expected exactly 32/, [long])
})

test('rejects a key that is not base64', () => {
  const notBase64 = 'this is not base64 at all but is long enough!!'
  assertRejected(JSON.stringify({ 1: notBase64 }), /version "1": the key is not valid base64/, [notBase64])
  // 'B' sets one of the two spare bits of the last character: Node would decode it, but no
  // encoder produces it, so it is a typo rather than a key.
  const nonCanonical = KEY_1.slice(0, 42) + 'B='
  assertRejected(JSON.stringify({ 1: nonCanonical }), /version "1": the key is not valid base64/)
})

test('rejects a key that is not a string', () => {
  assertRejected(JSON.stringify({ 1: 12345 }), /version "1": the key must be a base64 string, got a number/)
  assertRejected(JSON.stringify({ 1: { key: KEY_1 } }), /version "1": the key must be a base64 string, got an object/, [KEY_1])
})

test('rejects versions that are not positive integers, naming each', () => {
  assertRejected(JSON.stringify({ abc: KEY_1 }), /version "abc" is not a positive integer version/, [KEY_1])
  assertRejected(JSON.stringify({ '1.5': KEY_1 }), /version "1.5" is not a positive integer version/, [KEY_1])
  assertRejected(JSON.stringify({ 0: KEY_1 }), /version "0" is not a positive integer version/, [KEY_1])
  assertRejected(JSON.stringify({ '-1': KEY_1 }), /version "-1" is not a positive integer version/, [KEY_1])
  assertRejected(JSON.stringify({ '01': KEY_1 }), /version "01" is not a positive integer version/, [KEY_1])
  assertRejected(JSON.stringify({ '99999999999999999999': KEY_1 }), /a version name of 20 characters is not a positive integer/, [KEY_1])
})

test('a key pasted where the version belongs is not echoed back', () => {
  assertRejected(JSON.stringify({ [KEY_1]: KEY_2 }), /a version name of \d+ characters is not a positive integer version/, [KEY_1, KEY_2])
})

test('reports every bad version at once', () => {
  const err = assertRejected(JSON.stringify({ 1: KEY_1, x: KEY_2, 3: 'AAAA' }), /version "x"/, [KEY_1, KEY_2])
  assert.equal(err.problems.length, 2)
  assert.match(err.message, /version "3": the key decodes to 3 bytes/)
})

test('generateKey returns 32 fresh random bytes as base64', () => {
  const a = generateKey()
  const b = generateKey()
  assert.equal(Buffer.from(a, 'base64').length, 32)
  assert.notEqual(a, b)
})

test('generateKeyRingJson builds a ring KeyRing.fromEnv accepts', () => {
  assert.deepEqual(KeyRing.fromEnv(generateKeyRingJson()).versions, [1])
  const ring = KeyRing.fromEnv(generateKeyRingJson([1, 2, 5]))
  assert.deepEqual(ring.versions, [1, 2, 5])
  assert.equal(ring.currentVersion, 5)
  assert.throws(() => generateKeyRingJson([0]), RangeError)
  assert.throws(() => generateKeyRingJson([]), RangeError)
})
