// Keyed hashes of values the hub must recognise later without keeping them (a data subject's
// email after an erase): HMAC-SHA256 under a key derived from one version of the key ring, so the
// database alone (a dump, a replica) cannot confirm a guessed email.
import { createHmac, hkdfSync } from 'node:crypto'
import { ringKey, type KeyRing } from './key-ring.ts'

const derived = new WeakMap<KeyRing, Map<string, Buffer>>()

function derive(ring: KeyRing, version: number, purpose: string): Buffer {
  let byPurpose = derived.get(ring)
  if (!byPurpose) {
    byPurpose = new Map()
    derived.set(ring, byPurpose)
  }
  const id = `${version}:${purpose}`
  let key = byPurpose.get(id)
  if (!key) {
    const base = ringKey(ring, version)
    if (!base) throw new RangeError(`the key ring has no version ${version}`)
    // A separate key per purpose: the encryption key itself never signs anything.
    key = Buffer.from(hkdfSync('sha256', base.export(), Buffer.alloc(0), `hub/keyed-hash/${purpose}`, 32))
    byPurpose.set(id, key)
  }
  return key
}

/** Lowercase hex HMAC-SHA256 of `value` under the ring's `version` key for `purpose`. */
export function keyedHash(ring: KeyRing, version: number, purpose: string, value: string): string {
  return createHmac('sha256', derive(ring, version, purpose))
    .update(value, 'utf8')
    .digest('hex')
}
