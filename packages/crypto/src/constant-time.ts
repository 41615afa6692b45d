// Comparison of secrets (signatures, tokens) whose running time does not depend on where they differ.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

// Per-process key: the digests compared are unpredictable, so even their timing says nothing
// about the inputs, and different-length inputs become equal-length digests.
const COMPARE_KEY = randomBytes(32)

/**
 * Byte-wise equality (strings as UTF-8). Both sides are HMAC'd to 32 bytes before
 * timingSafeEqual, so there is no early exit on a length mismatch, which would otherwise leak
 * the expected length.
 */
export function constantTimeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const left = toBytes(a)
  const right = toBytes(b)
  const digestsEqual = timingSafeEqual(digest(left), digest(right))
  // The length check cannot short-circuit anything: the digests were compared in full already.
  return digestsEqual && left.length === right.length
}

function digest(bytes: Buffer): Buffer {
  return createHmac('sha256', COMPARE_KEY).update(bytes).digest()
}

function toBytes(value: string | Buffer): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8')
  if (Buffer.isBuffer(value)) return value
  throw new TypeError('constantTimeEqual expects strings or Buffers')
}
