// Versioned AES-256 keys from ENCRYPTION_KEYS: the newest version encrypts, every version decrypts.
import { createSecretKey, randomBytes } from 'node:crypto'
import type { KeyObject } from 'node:crypto'

export const KEY_BYTES = 32

// Leading zeros are refused so "1" and "01" cannot name two different keys for the same version.
const VERSION_PATTERN = /^[1-9][0-9]*$/
// Standard or URL-safe alphabet, optional padding; canonical form is checked after decoding.
const BASE64_PATTERN = /^[A-Za-z0-9+/_-]+={0,2}$/

// Keys live here rather than on the instance, so no logger, inspector or JSON.stringify of a
// KeyRing can ever reach key material; only this package's secret box asks for them.
const keysByRing = new WeakMap<KeyRing, ReadonlyMap<number, KeyObject>>()

export class KeyRingError extends Error {
  readonly code = 'KEY_RING_INVALID'
  /** One line per problem, each naming the version and what is wrong, never the key. */
  readonly problems: readonly string[]

  constructor(variable: string, problems: readonly string[]) {
    super(`${variable} is invalid: ${problems.join('; ')}`)
    this.name = 'KeyRingError'
    this.problems = problems
  }
}

export class KeyRing {
  /** The version new ciphertexts are written under (the highest one). */
  readonly currentVersion: number
  /** Every version this ring can decrypt, ascending. */
  readonly versions: readonly number[]

  private constructor(keys: ReadonlyMap<number, KeyObject>) {
    this.versions = Object.freeze([...keys.keys()].sort((a, b) => a - b))
    const newest = this.versions[this.versions.length - 1]
    if (newest === undefined) throw new Error('KeyRing needs at least one key')
    this.currentVersion = newest
    keysByRing.set(this, keys)
    Object.freeze(this)
  }

  /**
   * Parses ENCRYPTION_KEYS: a JSON object `{"<version>": "<base64 of 32 bytes>"}`.
   * Every problem is reported at once, so an operator fixes the variable in one go.
   * @param variable the name used in error messages
   */
  static fromEnv(value: string | undefined, variable = 'ENCRYPTION_KEYS'): KeyRing {
    const fail = (...problems: string[]): never => {
      throw new KeyRingError(variable, problems)
    }
    const expected = 'expected a JSON object {"<version>": "<base64 of 32 bytes>"}'

    if (value === undefined || value.trim() === '') return fail(`it is empty; ${expected}`)

    let parsed: unknown
    try {
      parsed = JSON.parse(value)
    } catch {
      // The SyntaxError text quotes the input around the bad token, which would be key material.
      if (looksLikeBareKey(value)) {
        return fail(`it is not JSON but looks like a bare key; wrap it as {"1":"<key>"}`)
      }
      return fail(`it is not valid JSON; ${expected}`)
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return fail(`it is JSON ${describeType(parsed)}; ${expected}`)
    }

    const entries = Object.entries(parsed)
    if (entries.length === 0) return fail(`it has no keys; ${expected}`)

    const problems: string[] = []
    const keys = new Map<number, KeyObject>()
    for (const [name, encoded] of entries) {
      const label = versionLabel(name)
      if (!VERSION_PATTERN.test(name) || !Number.isSafeInteger(Number(name))) {
        problems.push(`${label} is not a positive integer version`)
        continue
      }
      if (typeof encoded !== 'string') {
        problems.push(`${label}: the key must be a base64 string, got ${describeType(encoded)}`)
        continue
      }
      const bytes = decodeBase64(encoded)
      if (bytes === undefined) {
        problems.push(`${label}: the key is not valid base64`)
        continue
      }
      if (bytes.length !== KEY_BYTES) {
        problems.push(`${label}: the key decodes to ${bytes.length} bytes, expected exactly ${KEY_BYTES}`)
        continue
      }
      keys.set(Number(name), createSecretKey(bytes))
      bytes.fill(0)
    }
    if (problems.length > 0) return fail(...problems)
    return new KeyRing(keys)
  }

  has(version: number): boolean {
    return keysByRing.get(this)?.has(version) ?? false
  }

  toJSON(): { currentVersion: number; versions: readonly number[] } {
    return { currentVersion: this.currentVersion, versions: this.versions }
  }
}

/** For the secret box only (not re-exported from the package): the key for one version. */
export function ringKey(ring: KeyRing, version: number): KeyObject | undefined {
  return keysByRing.get(ring)?.get(version)
}

/** A fresh AES-256 key, base64 encoded, for one entry of ENCRYPTION_KEYS. */
export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString('base64')
}

/**
 * A development ENCRYPTION_KEYS value with a fresh key for each version given.
 * Production keys should come from a secret manager, not from this.
 */
export function generateKeyRingJson(versions: readonly number[] = [1]): string {
  if (versions.length === 0) throw new RangeError('generateKeyRingJson needs at least one version')
  const ring: Record<string, string> = {}
  for (const version of versions) {
    if (!Number.isSafeInteger(version) || version < 1) {
      throw new RangeError(`version ${String(version)} is not a positive integer`)
    }
    ring[String(version)] = generateKey()
  }
  return JSON.stringify(ring)
}

function decodeBase64(encoded: string): Buffer | undefined {
  if (!BASE64_PATTERN.test(encoded)) return undefined
  const standard = encoded.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '')
  if (standard.length % 4 === 1) return undefined
  const bytes = Buffer.from(standard, 'base64')
  // Node's decoder silently drops stray bits; requiring the canonical form rejects typos.
  if (bytes.toString('base64').replace(/=+$/, '') !== standard) return undefined
  return bytes
}

function looksLikeBareKey(value: string): boolean {
  const bytes = decodeBase64(value.trim())
  return bytes !== undefined && bytes.length === KEY_BYTES
}

// A version name is echoed only when it cannot be a key pasted into the wrong place
// (a 32-byte key is 43+ characters of base64): short and plainly printable.
function versionLabel(name: string): string {
  if (name.length <= 12 && /^[\x20-\x7e]*$/.test(name)) return `version ${JSON.stringify(name)}`
  return `a version name of ${name.length} characters`
}

function describeType(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  const type = typeof value
  return `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`
}
