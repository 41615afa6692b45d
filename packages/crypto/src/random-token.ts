import { randomBytes } from 'node:crypto'

/** Below 128 bits a token is within reach of guessing, so shorter requests are refused. */
export const MIN_TOKEN_BYTES = 16
const MAX_TOKEN_BYTES = 1024

/** A random secret (OAuth state, nonce, PKCE verifier…), base64url without padding. */
export function randomToken(bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < MIN_TOKEN_BYTES || bytes > MAX_TOKEN_BYTES) {
    throw new RangeError(`randomToken: bytes must be an integer from ${MIN_TOKEN_BYTES} to ${MAX_TOKEN_BYTES}, got ${String(bytes)}`)
  }
  return randomBytes(bytes).toString('base64url')
}
