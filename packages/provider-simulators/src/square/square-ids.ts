// Identifier shapes copied from real Square responses, so code that validates or logs ids sees
// what production sends (26-char customer ids, 29-char payment ids, 13-char merchant ids, ...).
import { createHash, randomBytes } from 'node:crypto'
import type { Prng } from '../common/prng.ts'

const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
const MIXED_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
const URL_SAFE = `${MIXED_ALNUM}-_`

function draw(rng: Prng, alphabet: string, length: number): string {
  let out = ''
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(rng.next() * alphabet.length)]
  return out
}

export const squareIds = {
  customer: (rng: Prng): string => draw(rng, UPPER_ALNUM, 26),
  payment: (rng: Prng): string => draw(rng, MIXED_ALNUM, 29),
  order: (rng: Prng): string => draw(rng, MIXED_ALNUM, 27),
  catalogObject: (rng: Prng): string => draw(rng, UPPER_ALNUM, 24),
  location: (rng: Prng): string => `L${draw(rng, UPPER_ALNUM, 12)}`,
}

/** Merchant ids are derived, not drawn, so the same seed and credential always open the same account. */
export function merchantIdFrom(...parts: string[]): string {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest()
  let out = ''
  for (let i = 0; i < 13; i++) out += UPPER_ALNUM[(digest[i] as number) % UPPER_ALNUM.length]
  return out
}

function randomFrom(alphabet: string, length: number): string {
  const bytes = randomBytes(length)
  let out = ''
  for (let i = 0; i < length; i++) out += alphabet[(bytes[i] as number) % alphabet.length]
  return out
}

/** Secrets are random: they must not be guessable from the seed. */
export const squareSecrets = {
  accessToken: (): string => `EAAA${randomFrom(URL_SAFE, 60)}`,
  refreshToken: (): string => `EQAA${randomFrom(URL_SAFE, 60)}`,
  authorizationCode: (): string => `sq0cgp-${randomFrom(URL_SAFE, 22)}`,
  signatureKey: (): string => randomFrom(URL_SAFE, 22),
  webhookSubscriptionId: (): string => `wbhk_${randomBytes(16).toString('hex')}`,
}

/** `EAAA` + 60 url-safe characters: personal access tokens, sandbox tokens and OAuth tokens alike. */
export const ACCESS_TOKEN_PATTERN = /^EAAA[A-Za-z0-9_-]{60}$/
export const REFRESH_TOKEN_PATTERN = /^EQAA[A-Za-z0-9_-]{60}$/
export const CLIENT_ID_PATTERN = /^(sandbox-)?sq0id[pb]-[A-Za-z0-9_-]{10,}$/
export const CLIENT_SECRET_PATTERN = /^(sandbox-)?sq0cs[pb]-[A-Za-z0-9_-]{10,}$/
