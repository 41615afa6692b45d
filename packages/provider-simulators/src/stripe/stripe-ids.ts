// Identifiers shaped like Stripe's: a type prefix and a run of base62 characters. Event ids carry
// a time-ordered head (as real `evt_1N...` ids do) so events created in the same second still
// sort in the order they happened.
import type { Prng } from '../common/prng.ts'

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

/** Lengths of the random part, after the prefix, as seen on real objects. */
export const ID_LENGTHS = {
  acct: 16,
  cus: 14,
  prod: 14,
  price: 24,
  pi: 24,
  ch: 24,
  py: 24,
  pm: 24,
  re: 24,
  txn: 24,
  evt: 24,
  we: 24,
  req: 14,
  ac: 32,
  rt: 32,
  whsec: 32,
  sk_test: 32,
  pk_test: 32,
} as const

export type IdPrefix = keyof typeof ID_LENGTHS

export function newId(rng: Prng, prefix: IdPrefix): string {
  return `${prefix}_${rng.alnum(ID_LENGTHS[prefix])}`
}

function base62(value: number, width: number): string {
  let out = ''
  let rest = Math.floor(value)
  for (let i = 0; i < width; i++) {
    out = BASE62[rest % 62] + out
    rest = Math.floor(rest / 62)
  }
  return out
}

/** `evt_1` + 7 ordered characters + 16 random ones: 24 characters like the real thing. */
export function newEventId(rng: Prng, sequence: number): string {
  return `evt_1${base62(sequence, 7)}${rng.alnum(16)}`
}

const SECRET_KEY = /^(sk|rk)_test_[A-Za-z0-9]{16,247}$/
const KEY_PREFIX = /^((?:sk|rk|pk)_(?:test|live)_)(.*)$/s

export function isWellFormedSecretKey(key: string): boolean {
  return SECRET_KEY.test(key)
}

/**
 * Masks a key the way Stripe's error messages do: the mode prefix stays, every other character
 * but the last four becomes `*`.
 */
export function maskKey(key: string): string {
  const match = KEY_PREFIX.exec(key)
  const prefix = match ? (match[1] as string) : ''
  const rest = match ? (match[2] as string) : key
  if (rest.length <= 4) return prefix + '*'.repeat(rest.length)
  return prefix + '*'.repeat(rest.length - 4) + rest.slice(-4)
}

/** Prefix of an id (`cus_x` -> `cus`), used to find which collection holds an object. */
export function idPrefix(id: string): string {
  const index = id.indexOf('_')
  return index === -1 ? '' : id.slice(0, index)
}
