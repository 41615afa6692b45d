// Deterministic data for simulated accounts: the same seed always yields the same records,
// so a credential opens the same account on every run and tests can assert exact contents.
import { createHash } from 'node:crypto'

export interface Prng {
  next(): number
  int(min: number, max: number): number
  pick<T>(items: readonly T[]): T
  hex(length: number): string
  alnum(length: number): string
}

export function seedFrom(...parts: Array<string | number>): number {
  return createHash('sha256').update(parts.join('\u0000')).digest().readUInt32BE(0)
}

/** mulberry32: tiny, fast and good enough for fake data. */
export function createPrng(seed: number): Prng {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1))
  const chars = (alphabet: string, length: number): string => {
    let out = ''
    for (let i = 0; i < length; i++) out += alphabet[Math.floor(next() * alphabet.length)]
    return out
  }
  return {
    next,
    int,
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
    hex: (length) => chars('0123456789abcdef', length),
    alnum: (length) => chars('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', length),
  }
}

const GIVEN = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Margaret', 'Linus', 'Radia', 'Dennis', 'Hedy', 'John', 'Katherine', 'Tim', 'Sophie', 'Guido', 'Anita', 'Bjarne'] as const
const FAMILY = [
  'Lovelace',
  'Hopper',
  'Turing',
  'Dijkstra',
  'Liskov',
  'Knuth',
  'Allen',
  'Thompson',
  'Hamilton',
  'Torvalds',
  'Perlman',
  'Ritchie',
  'Lamarr',
  'McCarthy',
  'Johnson',
  'Berners-Lee',
  'Wilson',
  'van Rossum',
  'Borg',
  'Stroustrup',
] as const
const PRODUCTS = ['Stalls ticket', 'Balcony ticket', 'VIP box', 'Season pass', 'Programme', 'Tote bag', 'Poster', 'Cloakroom', 'Parking', 'Drinks voucher'] as const

export interface FakePerson {
  givenName: string
  familyName: string
  email: string
  phone: string
}

/** A person whose email is unique for the index, so accounts never hold duplicates by accident. */
export function fakePerson(rng: Prng, index: number): FakePerson {
  const givenName = rng.pick(GIVEN)
  const familyName = rng.pick(FAMILY)
  const local = `${givenName}.${familyName}`.toLowerCase().replace(/[^a-z.]/g, '')
  return {
    givenName,
    familyName,
    email: `${local}.${index}@example.com`,
    phone: `+1555${String(rng.int(0, 9999999)).padStart(7, '0')}`,
  }
}

export function fakeProductName(rng: Prng, index: number): string {
  return `${rng.pick(PRODUCTS)} #${index}`
}
