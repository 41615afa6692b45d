import { test } from 'node:test'
import assert from 'node:assert/strict'
import { inspect } from 'node:util'
import { DecryptionError, KeyRing, decryptSecret, encryptSecret, envelopeKeyVersion, generateKey, needsReencryption, reencryptSecret } from '../src/index.ts'
import type { SecretAad } from '../src/index.ts'

const PLAINTEXT = 'CANARY-plaintext-7f3e9b21-do-not-leak'
const KEY_1 = generateKey()
const KEY_2 = generateKey()
const ringV1 = KeyRing.fromEnv(JSON.stringify({ 1: KEY_1 }))
const ringV1V2 = KeyRing.fromEnv(JSON.stringify({ 1: KEY_1, 2: KEY_2 }))
const ringV2 = KeyRing.fromEnv(JSON.stringify({ 2: KEY_2 }))
const AAD: SecretAad = { tenantId: 'tenant-a', rowId: 'connection-1', field: 'api_key' }

function everyRendering(err: unknown): string[] {
  const asError = err as Error
  return [asError.message, String(err), asError.stack ?? '', inspect(err, { depth: 10, showHidden: true }), JSON.stringify(err)]
}

function failureOf(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  assert.fail('expected the call to throw')
}

test('no decryption error ever contains the plaintext, the key or the ciphertext', () => {
  const envelope = encryptSecret(ringV1, PLAINTEXT, AAD)
  const [, , iv, tag, ciphertext] = envelope.split('.')
  const tampered = envelope.slice(0, -2) + (envelope.endsWith('AA') ? 'BA' : 'AA')
  const failures = [
    failureOf(() => decryptSecret(ringV1, envelope, { ...AAD, rowId: 'connection-2' })),
    failureOf(() => decryptSecret(ringV1, envelope, { ...AAD, tenantId: 'tenant-b' })),
    failureOf(() => decryptSecret(ringV1, envelope, { ...AAD, field: 'refresh_token' })),
    failureOf(() => decryptSecret(ringV1, tampered, AAD)),
    failureOf(() => decryptSecret(ringV2, envelope, AAD)),
    failureOf(() => reencryptSecret(ringV1V2, envelope, { ...AAD, rowId: 'connection-2' })),
    // A secret stored in clear by mistake, or a damaged envelope, must not be echoed either.
    failureOf(() => decryptSecret(ringV1, PLAINTEXT, AAD)),
    failureOf(() => decryptSecret(ringV1, `v1.1.${PLAINTEXT}`, AAD)),
    failureOf(() => envelopeKeyVersion(PLAINTEXT)),
    failureOf(() => needsReencryption(ringV1, `${PLAINTEXT}.${PLAINTEXT}`)),
    failureOf(() => decryptSecret(ringV1, `${envelope}.${PLAINTEXT}`, AAD)),
  ]
  const forbidden = [PLAINTEXT, KEY_1, KEY_2, envelope, iv, tag, ciphertext, Buffer.from(KEY_1, 'base64').toString('hex')]
  for (const err of failures) {
    assert.ok(err instanceof DecryptionError)
    for (const rendering of everyRendering(err)) {
      for (const secret of forbidden) {
        assert.ok(secret !== undefined && !rendering.includes(secret), `${err.code} error text leaks ${secret === PLAINTEXT ? 'the plaintext' : 'secret material'}`)
      }
    }
    assert.equal(err.cause, undefined)
  }
})

test('no associated-data or argument error contains the plaintext', () => {
  const failures = [
    failureOf(() => encryptSecret(ringV1, PLAINTEXT, { ...AAD, tenantId: '' })),
    failureOf(() => encryptSecret(ringV1, PLAINTEXT, { ...AAD, field: '\uDC00' })),
    failureOf(() => encryptSecret(ringV1, Buffer.from(PLAINTEXT) as unknown as string, AAD)),
  ]
  for (const err of failures) {
    assert.ok(err instanceof TypeError)
    for (const rendering of everyRendering(err)) assert.ok(!rendering.includes(PLAINTEXT))
  }
})
