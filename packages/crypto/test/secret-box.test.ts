import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DecryptionError, KeyRing, decryptSecret, encryptSecret, envelopeKeyVersion, generateKey, needsReencryption, reencryptSecret } from '../src/index.ts'
import type { SecretAad } from '../src/index.ts'

const KEY_1 = generateKey()
const KEY_2 = generateKey()
const ringV1 = KeyRing.fromEnv(JSON.stringify({ 1: KEY_1 }))
const ringV1V2 = KeyRing.fromEnv(JSON.stringify({ 1: KEY_1, 2: KEY_2 }))
const ringV2 = KeyRing.fromEnv(JSON.stringify({ 2: KEY_2 }))

const AAD: SecretAad = {
  tenantId: '7d0c5a4e-0000-4000-8000-000000000001',
  rowId: '4f1c2a9e-0000-4000-8000-00000000000a',
  field: 'api_key',
}
const SECRET = 'sk_test_51HqLyjWDarjtT1zdp7dcXGMe9f2a'

function assertDecryptionError(fn: () => unknown, code: DecryptionError['code']): DecryptionError {
  let caught: unknown
  try {
    fn()
  } catch (err) {
    caught = err
  }
  assert.ok(caught instanceof DecryptionError, `expected DecryptionError, got ${String(caught)}`)
  assert.equal(caught.name, 'DecryptionError')
  assert.equal(caught.code, code)
  return caught
}

function replacePart(envelope: string, index: number, edit: (bytes: Buffer) => Buffer): string {
  const parts = envelope.split('.')
  const part = parts[index]
  assert.ok(part !== undefined)
  parts[index] = edit(Buffer.from(part, 'base64url')).toString('base64url')
  return parts.join('.')
}

test('round trip returns the original plaintext', () => {
  for (const plaintext of [SECRET, '', 'x', 'pässwörd 🔑 with unicode', 'a'.repeat(10_000)]) {
    assert.equal(decryptSecret(ringV1, encryptSecret(ringV1, plaintext, AAD), AAD), plaintext)
  }
})

test('the envelope is v1.<keyVersion>.<iv>.<tag>.<ciphertext> with a 12-byte IV and 16-byte tag', () => {
  const envelope = encryptSecret(ringV1, SECRET, AAD)
  const [format, version, iv, tag, ciphertext, ...rest] = envelope.split('.')
  assert.equal(format, 'v1')
  assert.equal(version, '1')
  assert.equal(Buffer.from(iv ?? '', 'base64url').length, 12)
  assert.equal(Buffer.from(tag ?? '', 'base64url').length, 16)
  assert.equal(Buffer.from(ciphertext ?? '', 'base64url').length, Buffer.byteLength(SECRET))
  assert.deepEqual(rest, [])
  assert.match(envelope, /^[A-Za-z0-9_.-]+$/)
  assert.ok(!envelope.includes(SECRET))
})

test('two encryptions of the same plaintext differ (fresh IV)', () => {
  const seen = new Set<string>()
  const ivs = new Set<string>()
  for (let i = 0; i < 50; i++) {
    const envelope = encryptSecret(ringV1, SECRET, AAD)
    seen.add(envelope)
    ivs.add(envelope.split('.')[2] ?? '')
  }
  assert.equal(seen.size, 50)
  assert.equal(ivs.size, 50)
})

test('a ciphertext moved to another row fails with DecryptionError', () => {
  const envelope = encryptSecret(ringV1, SECRET, AAD)
  assertDecryptionError(() => decryptSecret(ringV1, envelope, { ...AAD, rowId: '4f1c2a9e-0000-4000-8000-00000000000b' }), 'DECRYPT_FAILED')
})

test('a ciphertext moved to another tenant fails with DecryptionError', () => {
  const envelope = encryptSecret(ringV1, SECRET, AAD)
  assertDecryptionError(() => decryptSecret(ringV1, envelope, { ...AAD, tenantId: '7d0c5a4e-0000-4000-8000-000000000002' }), 'DECRYPT_FAILED')
})

test('a ciphertext moved to another field fails with DecryptionError', () => {
  const envelope = encryptSecret(ringV1, SECRET, AAD)
  assertDecryptionError(() => decryptSecret(ringV1, envelope, { ...AAD, field: 'refresh_token' }), 'DECRYPT_FAILED')
})

test('ids that concatenate to the same text are still different rows', () => {
  const envelope = encryptSecret(ringV1, SECRET, { tenantId: 't', rowId: 'a.b', field: 'c' })
  assertDecryptionError(() => decryptSecret(ringV1, envelope, { tenantId: 't', rowId: 'a', field: 'b.c' }), 'DECRYPT_FAILED')
  assertDecryptionError(() => decryptSecret(ringV1, envelope, { tenantId: 't.a', rowId: 'b', field: 'c' }), 'DECRYPT_FAILED')
  const lengthy = encryptSecret(ringV1, SECRET, { tenantId: 't', rowId: '\u0000\u0000\u0000\u0001x', field: 'c' })
  assertDecryptionError(() => decryptSecret(ringV1, lengthy, { tenantId: 't\u0000\u0000\u0000\u0001', rowId: 'x', field: 'c' }), 'DECRYPT_FAILED')
})

test('any flipped byte in the iv, tag or ciphertext fails', () => {
  const envelope = encryptSecret(ringV1, SECRET, AAD)
  let attempts = 0
  // Parts 2, 3 and 4 of the envelope: iv, tag, ciphertext. Every byte, lowest and highest bit.
  for (const index of [2, 3, 4]) {
    const length = Buffer.from(envelope.split('.')[index] ?? '', 'base64url').length
    for (let position = 0; position < length; position++) {
      for (const mask of [0x01, 0x80]) {
        const tampered = replacePart(envelope, index, (bytes) => {
          const copy = Buffer.from(bytes)
          copy[position] = (copy[position] ?? 0) ^ mask
          return copy
        })
        assert.notEqual(tampered, envelope)
        assertDecryptionError(() => decryptSecret(ringV1, tampered, AAD), 'DECRYPT_FAILED')
        attempts++
      }
    }
  }
  assert.equal(attempts, 2 * (12 + 16 + Buffer.byteLength(SECRET)))
})

test('a truncated or extended ciphertext fails', () => {
  const envelope = encryptSecret(ringV1, SECRET, AAD)
  const shorter = replacePart(envelope, 4, (bytes) => bytes.subarray(0, bytes.length - 1))
  const longer = replacePart(envelope, 4, (bytes) => Buffer.concat([bytes, Buffer.from([0])]))
  assertDecryptionError(() => decryptSecret(ringV1, shorter, AAD), 'DECRYPT_FAILED')
  assertDecryptionError(() => decryptSecret(ringV1, longer, AAD), 'DECRYPT_FAILED')
})

test('relabelling an envelope with another key version fails', () => {
  const envelope = encryptSecret(ringV1V2, SECRET, AAD)
  const relabelled = envelope.replace(/^v1\.2\./, 'v1.1.')
  assert.notEqual(relabelled, envelope)
  assertDecryptionError(() => decryptSecret(ringV1V2, relabelled, AAD), 'DECRYPT_FAILED')
})

test('a truncated tag is refused rather than checked on fewer bits', () => {
  const envelope = encryptSecret(ringV1, SECRET, AAD)
  const shortTag = replacePart(envelope, 3, (bytes) => bytes.subarray(0, 12))
  assertDecryptionError(() => decryptSecret(ringV1, shortTag, AAD), 'ENVELOPE_MALFORMED')
})

test('a non-canonical base64url spelling of a valid envelope is refused', () => {
  const envelope = encryptSecret(ringV1, SECRET, AAD)
  const parts = envelope.split('.')
  const tag = parts[3] ?? ''
  // 16 bytes use 22 characters with 4 spare bits; setting one gives a string Node decodes to the same tag.
  const last = tag.at(-1) ?? 'A'
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  parts[3] = tag.slice(0, -1) + (alphabet[alphabet.indexOf(last) | 1] ?? '')
  const respelled = parts.join('.')
  assert.deepEqual(Buffer.from(parts[3], 'base64url'), Buffer.from(tag, 'base64url'))
  assertDecryptionError(() => decryptSecret(ringV1, respelled, AAD), 'ENVELOPE_MALFORMED')
})

test('text that is not an envelope fails with ENVELOPE_MALFORMED', () => {
  const envelope = encryptSecret(ringV1, SECRET, AAD)
  const parts = envelope.split('.')
  for (const bad of [
    SECRET,
    '',
    'v2.1.a.b.c',
    parts.slice(0, 4).join('.'),
    `${envelope}.extra`,
    envelope.replace(/^v1\.1\./, 'v1.0.'),
    envelope.replace(/^v1\.1\./, 'v1.01.'),
    envelope.replace(/^v1\.1\./, 'v1.x.'),
    [parts[0], parts[1], `${parts[2]}!`, parts[3], parts[4]].join('.'),
  ]) {
    assertDecryptionError(() => decryptSecret(ringV1, bad, AAD), 'ENVELOPE_MALFORMED')
  }
})

test('a key ring with versions 1 and 2 encrypts with 2 and still decrypts version-1 envelopes', () => {
  const old = encryptSecret(ringV1, SECRET, AAD)
  assert.equal(envelopeKeyVersion(old), 1)
  assert.equal(decryptSecret(ringV1V2, old, AAD), SECRET)
  const fresh = encryptSecret(ringV1V2, SECRET, AAD)
  assert.equal(envelopeKeyVersion(fresh), 2)
  assert.equal(decryptSecret(ringV1V2, fresh, AAD), SECRET)
  assert.equal(decryptSecret(ringV2, fresh, AAD), SECRET)
})

test('removing version 1 makes a version-1 envelope fail with KEY_VERSION_MISSING', () => {
  const old = encryptSecret(ringV1, SECRET, AAD)
  const err = assertDecryptionError(() => decryptSecret(ringV2, old, AAD), 'KEY_VERSION_MISSING')
  assert.equal(err.keyVersion, 1)
  assert.match(err.message, /key version 1, which is not in the key ring \(versions 2\)/)
})

test('the same key under a different version number does not open the envelope', () => {
  const old = encryptSecret(ringV1, SECRET, AAD)
  const renumbered = KeyRing.fromEnv(JSON.stringify({ 1: KEY_2, 2: KEY_1 }))
  assertDecryptionError(() => decryptSecret(renumbered, old, AAD), 'DECRYPT_FAILED')
})

test('envelopeKeyVersion and needsReencryption read the version without any key', () => {
  const old = encryptSecret(ringV1, SECRET, AAD)
  const fresh = encryptSecret(ringV1V2, SECRET, AAD)
  assert.equal(envelopeKeyVersion(old), 1)
  assert.equal(envelopeKeyVersion(fresh), 2)
  assert.equal(needsReencryption(ringV1V2, old), true)
  assert.equal(needsReencryption(ringV1V2, fresh), false)
  assert.equal(needsReencryption(ringV2, old), true)
  assertDecryptionError(() => envelopeKeyVersion('not an envelope'), 'ENVELOPE_MALFORMED')
})

test('reencryptSecret moves an envelope from version 1 to version 2', () => {
  const old = encryptSecret(ringV1, SECRET, AAD)
  const moved = reencryptSecret(ringV1V2, old, AAD)
  assert.equal(envelopeKeyVersion(moved), 2)
  assert.equal(needsReencryption(ringV1V2, moved), false)
  // Once moved, the envelope no longer needs version 1 at all.
  assert.equal(decryptSecret(ringV2, moved, AAD), SECRET)
  // Still bound to the same row: the new envelope cannot be moved either.
  assertDecryptionError(() => decryptSecret(ringV2, moved, { ...AAD, rowId: 'another-row' }), 'DECRYPT_FAILED')
})

test('reencryptSecret leaves an envelope already under the current version unchanged', () => {
  const fresh = encryptSecret(ringV1V2, SECRET, AAD)
  assert.equal(reencryptSecret(ringV1V2, fresh, AAD), fresh)
})

test('reencryptSecret refuses an envelope that does not belong to the row', () => {
  const old = encryptSecret(ringV1, SECRET, AAD)
  assertDecryptionError(() => reencryptSecret(ringV1V2, old, { ...AAD, field: 'other' }), 'DECRYPT_FAILED')
  const fresh = encryptSecret(ringV1V2, SECRET, AAD)
  assertDecryptionError(() => reencryptSecret(ringV1V2, fresh, { ...AAD, field: 'other' }), 'DECRYPT_FAILED')
})

test('missing or empty associated data is a programming error, not an encryption', () => {
  assert.throws(() => encryptSecret(ringV1, SECRET, { ...AAD, tenantId: '' }), /tenantId must be a non-empty string/)
  assert.throws(() => encryptSecret(ringV1, SECRET, { ...AAD, rowId: undefined as unknown as string }), /rowId must be a non-empty string/)
  assert.throws(() => encryptSecret(ringV1, SECRET, { ...AAD, field: '\uD800' }), /field contains a lone surrogate/)
  assert.throws(() => encryptSecret(ringV1, 42 as unknown as string, AAD), /plaintext must be a string/)
})
