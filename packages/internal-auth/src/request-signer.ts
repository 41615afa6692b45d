// HMAC-SHA256 request signing, v1 (architecture.md §3): the pure half shared by callers and receivers.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

export const SIGNATURE_VERSION = 'v1'

export const HEADER_SERVICE = 'x-internal-service'
export const HEADER_KEY_ID = 'x-internal-key-id'
export const HEADER_TIMESTAMP = 'x-internal-timestamp'
export const HEADER_NONCE = 'x-internal-nonce'
export const HEADER_SIGNATURE = 'x-internal-signature'

export interface CanonicalParts {
  service: string
  method: string
  /** Path plus query string, byte for byte as it goes on the request line. */
  pathWithQuery: string
  /** Unix seconds. */
  timestamp: string | number
  nonce: string
  /** Lowercase hex SHA-256 of the raw body (see `bodySha256`). */
  bodySha256: string
}

export type RequestBody = string | Uint8Array | undefined | null

export interface SignRequestInput {
  service: string
  keyId: string
  /** UTF-8 bytes of this string are the HMAC key. */
  secret: string
  method: string
  pathWithQuery: string
  /** The exact bytes that will be sent; a string is taken as UTF-8. */
  body?: RequestBody
  /** Unix seconds; defaults to now. */
  timestamp?: number
  /** Defaults to 16 fresh random bytes, hex. */
  nonce?: string
}

export interface SignedHeaders {
  [HEADER_SERVICE]: string
  [HEADER_KEY_ID]: string
  [HEADER_TIMESTAMP]: string
  [HEADER_NONCE]: string
  [HEADER_SIGNATURE]: string
  [header: string]: string
}

const EMPTY_SHA256 = createHash('sha256').update('').digest('hex')

/** Lowercase hex SHA-256 of the body bytes; the hash of the empty string when there is no body. */
export function bodySha256(body: RequestBody): string {
  if (body === undefined || body === null || body.length === 0) return EMPTY_SHA256
  return createHash('sha256').update(body).digest('hex')
}

export function canonicalString(parts: CanonicalParts): string {
  return [SIGNATURE_VERSION, parts.service, parts.method.toUpperCase(), parts.pathWithQuery, String(parts.timestamp), parts.nonce, parts.bodySha256].join('\n')
}

/** `v1=` + lowercase hex HMAC-SHA256(secret, canonical). */
export function computeSignature(secret: string, parts: CanonicalParts): string {
  return `${SIGNATURE_VERSION}=${createHmac('sha256', secret).update(canonicalString(parts)).digest('hex')}`
}

export function generateNonce(): string {
  return randomBytes(16).toString('hex')
}

export function signRequest(input: SignRequestInput): SignedHeaders {
  const timestamp = input.timestamp ?? Math.floor(Date.now() / 1000)
  const nonce = input.nonce ?? generateNonce()
  const signature = computeSignature(input.secret, {
    service: input.service,
    method: input.method,
    pathWithQuery: input.pathWithQuery,
    timestamp,
    nonce,
    bodySha256: bodySha256(input.body),
  })
  return {
    [HEADER_SERVICE]: input.service,
    [HEADER_KEY_ID]: input.keyId,
    [HEADER_TIMESTAMP]: String(timestamp),
    [HEADER_NONCE]: nonce,
    [HEADER_SIGNATURE]: signature,
  }
}

export interface VerifySignatureInput extends CanonicalParts {
  secret: string
  /** The `x-internal-signature` header as received, `v1=<hex>`. */
  signature: string
}

/**
 * True when `signature` is the v1 signature of the parts under `secret`. The comparison takes the
 * same time wherever the first differing byte is, and a wrong-length value still pays for a full
 * compare, so response timing tells an attacker nothing about how close a guess was.
 */
export function verifySignature(input: VerifySignatureInput): boolean {
  const expected = Buffer.from(computeSignature(input.secret, input), 'latin1')
  const received = Buffer.from(input.signature, 'latin1')
  if (received.length !== expected.length) {
    timingSafeEqual(expected, expected)
    return false
  }
  return timingSafeEqual(received, expected)
}
