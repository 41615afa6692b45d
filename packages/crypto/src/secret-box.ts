// AES-256-GCM envelopes for secrets at rest, bound to the row and field that holds them.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { ringKey } from './key-ring.ts'
import type { KeyRing } from './key-ring.ts'

/** Where a secret lives; the ciphertext only decrypts with the same triple. */
export interface SecretAad {
  tenantId: string
  rowId: string
  field: string
}

export type DecryptionErrorCode = 'DECRYPT_FAILED' | 'KEY_VERSION_MISSING' | 'ENVELOPE_MALFORMED'

/**
 * Raised for every envelope that does not open. The message names the cause and, when known,
 * the key version; it never carries plaintext, key, ciphertext or the envelope itself.
 */
export class DecryptionError extends Error {
  readonly code: DecryptionErrorCode
  /** The key version the envelope names, when it could be read. */
  readonly keyVersion: number | undefined

  constructor(code: DecryptionErrorCode, message: string, keyVersion?: number) {
    super(message)
    this.name = 'DecryptionError'
    this.code = code
    this.keyVersion = keyVersion
  }
}

export const ENVELOPE_FORMAT = 'v1'
const ALGORITHM = 'aes-256-gcm'
const IV_BYTES = 12
const TAG_BYTES = 16
// Domain label: a GCM tag made for some other purpose with the same key can never verify here.
const AAD_LABEL = 'hub.secret-box'
const VERSION_PATTERN = /^[1-9][0-9]*$/
const BASE64URL_PATTERN = /^[A-Za-z0-9_-]*$/

interface Envelope {
  keyVersion: number
  iv: Buffer
  tag: Buffer
  ciphertext: Buffer
}

/**
 * Encrypts under the ring's current version with a fresh random IV.
 * @returns `v1.<keyVersion>.<iv>.<tag>.<ciphertext>`, the last three base64url without padding
 */
export function encryptSecret(ring: KeyRing, plaintext: string, aad: SecretAad): string {
  if (typeof plaintext !== 'string') throw new TypeError('encryptSecret: plaintext must be a string')
  const keyVersion = ring.currentVersion
  const key = ringKey(ring, keyVersion)
  if (key === undefined) throw new Error(`key ring has no key for its current version ${keyVersion}`)
  const associated = encodeAad(keyVersion, aad)

  // 96 random bits per message: with one key, collisions stay negligible far beyond the number
  // of credentials this hub will ever store, and rotation resets the count.
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES })
  cipher.setAAD(associated)
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  const tag = cipher.getAuthTag()
  return [ENVELOPE_FORMAT, String(keyVersion), b64url(iv), b64url(tag), b64url(ciphertext)].join('.')
}

/** Opens an envelope written by encryptSecret for the same (tenantId, rowId, field). */
export function decryptSecret(ring: KeyRing, envelope: string, aad: SecretAad): string {
  const parsed = parseEnvelope(envelope)
  const associated = encodeAad(parsed.keyVersion, aad)
  const key = ringKey(ring, parsed.keyVersion)
  if (key === undefined) {
    throw new DecryptionError('KEY_VERSION_MISSING', `envelope was encrypted with key version ${parsed.keyVersion}, which is not in the key ring (versions ${ring.versions.join(', ')})`, parsed.keyVersion)
  }
  try {
    const decipher = createDecipheriv(ALGORITHM, key, parsed.iv, { authTagLength: TAG_BYTES })
    decipher.setAAD(associated)
    decipher.setAuthTag(parsed.tag)
    const plaintext = Buffer.concat([decipher.update(parsed.ciphertext), decipher.final()])
    return plaintext.toString('utf8')
  } catch {
    // One message for tampering and for a wrong row/tenant/field: GCM cannot tell them apart,
    // and saying which would help an attacker probe. The OpenSSL error is dropped, not chained.
    throw new DecryptionError('DECRYPT_FAILED', `envelope did not authenticate with key version ${parsed.keyVersion}: it was altered or belongs to another tenant, row or field`, parsed.keyVersion)
  }
}

/** The key version an envelope was written under, without decrypting it. */
export function envelopeKeyVersion(envelope: string): number {
  return parseEnvelope(envelope).keyVersion
}

/** True when the envelope is not under the ring's current version and should be rewritten. */
export function needsReencryption(ring: KeyRing, envelope: string): boolean {
  return envelopeKeyVersion(envelope) !== ring.currentVersion
}

/**
 * Decrypts with the envelope's own version and encrypts under the current one. An envelope
 * already under the current version is verified and returned unchanged, so a rotation run can be
 * repeated without rewriting rows it has already done.
 */
export function reencryptSecret(ring: KeyRing, envelope: string, aad: SecretAad): string {
  const plaintext = decryptSecret(ring, envelope, aad)
  if (!needsReencryption(ring, envelope)) return envelope
  return encryptSecret(ring, plaintext, aad)
}

/**
 * The associated data: every component as a 4-byte big-endian byte length followed by its UTF-8
 * bytes. Lengths, not separators, mark the boundaries, so no choice of ids can make two
 * different (tenantId, rowId, field) triples encode to the same bytes: ("a.b", "c") and
 * ("a", "b.c") differ in their first length. The format and key version are included too, so
 * the envelope header cannot be edited without breaking the tag. Lone UTF-16 surrogates are
 * refused because UTF-8 would turn them all into U+FFFD, merging distinct strings.
 */
export function encodeAad(keyVersion: number, aad: SecretAad): Buffer {
  const parts = [AAD_LABEL, ENVELOPE_FORMAT, String(keyVersion), aadPart(aad, 'tenantId'), aadPart(aad, 'rowId'), aadPart(aad, 'field')]
  const chunks: Buffer[] = []
  for (const part of parts) {
    const bytes = Buffer.from(part, 'utf8')
    const length = Buffer.alloc(4)
    length.writeUInt32BE(bytes.length)
    chunks.push(length, bytes)
  }
  return Buffer.concat(chunks)
}

function aadPart(aad: SecretAad, name: keyof SecretAad): string {
  const value: unknown = aad?.[name]
  // A missing id is a caller bug; binding to "" would let rows without ids share ciphertexts.
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(`secret associated data: ${name} must be a non-empty string`)
  }
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(value)) {
    throw new TypeError(`secret associated data: ${name} contains a lone surrogate`)
  }
  return value
}

function parseEnvelope(envelope: string): Envelope {
  const malformed = (what: string, keyVersion?: number): never => {
    throw new DecryptionError('ENVELOPE_MALFORMED', `envelope is malformed: ${what}`, keyVersion)
  }
  if (typeof envelope !== 'string') return malformed('expected a string')
  const parts = envelope.split('.')
  const [format, version, iv, tag, ciphertext] = parts
  if (format !== ENVELOPE_FORMAT) {
    // Echo the format only when it looks like one, never a fragment of a secret stored in clear.
    const shown = format !== undefined && /^v[0-9]{1,3}$/.test(format) ? ` "${format}"` : ''
    return malformed(`unsupported format${shown}; expected ${ENVELOPE_FORMAT}.<keyVersion>.<iv>.<tag>.<ciphertext>`)
  }
  if (parts.length !== 5 || version === undefined || iv === undefined || tag === undefined || ciphertext === undefined) {
    return malformed(`expected 5 dot-separated parts, got ${parts.length}`)
  }
  if (!VERSION_PATTERN.test(version) || !Number.isSafeInteger(Number(version))) {
    return malformed('the key version is not a positive integer')
  }
  const keyVersion = Number(version)
  const ivBytes = decodeBase64url(iv)
  if (ivBytes?.length !== IV_BYTES) return malformed(`the IV is not ${IV_BYTES} bytes of base64url`, keyVersion)
  const tagBytes = decodeBase64url(tag)
  if (tagBytes?.length !== TAG_BYTES) return malformed(`the tag is not ${TAG_BYTES} bytes of base64url`, keyVersion)
  const ciphertextBytes = decodeBase64url(ciphertext)
  if (ciphertextBytes === undefined) return malformed('the ciphertext is not base64url', keyVersion)
  return { keyVersion, iv: ivBytes, tag: tagBytes, ciphertext: ciphertextBytes }
}

// Strict: Node's decoder ignores stray characters and spare bits, which would let two different
// envelope strings open to the same secret; only the canonical unpadded form is accepted.
function decodeBase64url(text: string): Buffer | undefined {
  if (!BASE64URL_PATTERN.test(text)) return undefined
  const bytes = Buffer.from(text, 'base64url')
  return b64url(bytes) === text ? bytes : undefined
}

function b64url(bytes: Buffer): string {
  return bytes.toString('base64url')
}
