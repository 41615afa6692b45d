// Versioned Ed25519 signing keys (e.g. AUDIT_SIGNING_KEYS): the newest version signs, every
// version's public key stays published, so a signature made before a rotation still verifies.
// The value is `{"<version>": "<base64 of the 32-byte Ed25519 seed>"}`, parsed like KeyRing's.
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto'
import { KeyRingError } from './key-ring.ts'

export const SIGNING_SEED_BYTES = 32
const VERSION_PATTERN = /^[1-9][0-9]*$/
const BASE64_PATTERN = /^[A-Za-z0-9+/_-]+={0,2}$/
// PKCS#8 header of an Ed25519 private key: the 32-byte seed follows it.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

export interface PublicSigningKey {
  /** `v<version>-<first 16 hex of SHA-256 of the public key>`: a reused version number with another key gets another id. */
  keyId: string
  algorithm: 'Ed25519'
  /** SPKI, PEM encoded. */
  publicKeyPem: string
}

// As with KeyRing: key objects never sit on the instance, so no log or inspector reaches them.
const privateKeys = new WeakMap<SigningKeyRing, ReadonlyMap<string, KeyObject>>()

export class SigningKeyRing {
  /** The key id new signatures are made with (the highest version). */
  readonly currentKeyId: string
  /** Every key held, ascending by version. */
  readonly publicKeys: readonly PublicSigningKey[]

  private constructor(keys: Array<{ version: number; privateKey: KeyObject }>) {
    const sorted = [...keys].sort((a, b) => a.version - b.version)
    const byId = new Map<string, KeyObject>()
    const published: PublicSigningKey[] = []
    for (const { version, privateKey } of sorted) {
      const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString()
      const keyId = signingKeyId(version, publicKeyPem)
      byId.set(keyId, privateKey)
      published.push(Object.freeze({ keyId, algorithm: 'Ed25519' as const, publicKeyPem }))
    }
    const newest = published.at(-1)
    if (!newest) throw new Error('SigningKeyRing needs at least one key')
    this.currentKeyId = newest.keyId
    this.publicKeys = Object.freeze(published)
    privateKeys.set(this, byId)
    Object.freeze(this)
  }

  static fromEnv(value: string | undefined, variable = 'AUDIT_SIGNING_KEYS'): SigningKeyRing {
    const expected = 'expected a JSON object {"<version>": "<base64 of a 32-byte Ed25519 seed>"}'
    const fail = (...problems: string[]): never => {
      throw new KeyRingError(variable, problems)
    }
    if (value === undefined || value.trim() === '') return fail(`it is empty; ${expected}`)
    let parsed: unknown
    try {
      parsed = JSON.parse(value)
    } catch {
      // The SyntaxError text would quote key material.
      return fail(`it is not valid JSON; ${expected}`)
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return fail(`it is not a JSON object; ${expected}`)
    const entries = Object.entries(parsed)
    if (entries.length === 0) return fail(`it has no keys; ${expected}`)
    const problems: string[] = []
    const keys: Array<{ version: number; privateKey: KeyObject }> = []
    for (const [name, encoded] of entries) {
      const label = name.length <= 12 && /^[\x20-\x7e]*$/.test(name) ? `version ${JSON.stringify(name)}` : `a version name of ${name.length} characters`
      if (!VERSION_PATTERN.test(name) || !Number.isSafeInteger(Number(name))) {
        problems.push(`${label} is not a positive integer version`)
        continue
      }
      const seed = typeof encoded === 'string' && BASE64_PATTERN.test(encoded) ? Buffer.from(encoded.replace(/-/g, '+').replace(/_/g, '/'), 'base64') : undefined
      if (!seed || seed.length !== SIGNING_SEED_BYTES) {
        problems.push(`${label}: the key must be base64 of exactly ${SIGNING_SEED_BYTES} bytes`)
        continue
      }
      keys.push({ version: Number(name), privateKey: createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' }) })
      seed.fill(0)
    }
    if (problems.length > 0) return fail(...problems)
    return new SigningKeyRing(keys)
  }

  /** Signs with the current key; returns the key id and the base64 signature. */
  sign(message: string): { keyId: string; signature: string } {
    const key = privateKeys.get(this)?.get(this.currentKeyId)
    if (!key) throw new Error('the signing key ring lost its current key')
    return { keyId: this.currentKeyId, signature: sign(null, Buffer.from(message, 'utf8'), key).toString('base64') }
  }

  toJSON(): { currentKeyId: string; keyIds: string[] } {
    return { currentKeyId: this.currentKeyId, keyIds: this.publicKeys.map((key) => key.keyId) }
  }
}

export function signingKeyId(version: number, publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' })
  return `v${version}-${createHash('sha256').update(der).digest('hex').slice(0, 16)}`
}

/** Checks an Ed25519 signature with a published public key; false for any malformed input. */
export function verifySignature(publicKeyPem: string, message: string, signature: string): boolean {
  try {
    return verify(null, Buffer.from(message, 'utf8'), createPublicKey(publicKeyPem), Buffer.from(signature, 'base64'))
  } catch {
    return false
  }
}

/**
 * A development signing ring with a fresh seed per version given. Production keys come from a
 * secret manager, not from this.
 */
export function generateSigningKeyRingJson(versions: readonly number[] = [1]): string {
  return JSON.stringify(Object.fromEntries(versions.map((version) => [String(version), randomBytes(SIGNING_SEED_BYTES).toString('base64')])))
}
