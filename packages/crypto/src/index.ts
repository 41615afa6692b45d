export { KeyRing, KeyRingError, KEY_BYTES, generateKey, generateKeyRingJson } from './key-ring.ts'
export {
  DecryptionError,
  ENVELOPE_FORMAT,
  decryptSecret,
  encryptSecret,
  envelopeKeyVersion,
  needsReencryption,
  reencryptSecret,
} from './secret-box.ts'
export type { DecryptionErrorCode, SecretAad } from './secret-box.ts'
export { KNOWN_SECRET_PREFIXES, MIN_MASKED_LENGTH, maskSecret } from './mask.ts'
export { constantTimeEqual } from './constant-time.ts'
export { MIN_TOKEN_BYTES, randomToken } from './random-token.ts'
export { SIGNING_SEED_BYTES, SigningKeyRing, generateSigningKeyRingJson, signingKeyId, verifySignature } from './signing-key-ring.ts'
export type { PublicSigningKey } from './signing-key-ring.ts'
