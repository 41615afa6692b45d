// Keyset pagination behind opaque cursors. A cursor records the sort key and id of the last
// record served plus a digest of the query, so a page boundary is a position in the ordering
// rather than an offset: records created, changed or deleted elsewhere in the list during a walk
// never shift other records across a page boundary (no skips, no repeats), as with Square.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { invalid } from './square-errors.ts'

export type SortValue = string | number
export type SortKey = SortValue[]

interface CursorBody {
  /** Account the cursor belongs to. */
  a: string
  /** Digest of the query the cursor continues. */
  q: string
  /** Sort key of the last record served. */
  k: SortKey
}

function compareValues(left: SortValue, right: SortValue): number {
  if (typeof left === 'number' && typeof right === 'number') return left - right
  const a = String(left)
  const b = String(right)
  return a < b ? -1 : a > b ? 1 : 0
}

export function compareKeys(left: SortKey, right: SortKey): number {
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const a = left[i]
    const b = right[i]
    if (a === undefined) return -1
    if (b === undefined) return 1
    const order = compareValues(a, b)
    if (order !== 0) return order
  }
  return 0
}

export class CursorCodec {
  readonly #secret: string

  constructor(secret: string) {
    this.#secret = secret
  }

  #mac(payload: string): string {
    return createHmac('sha256', this.#secret).update(payload).digest('base64url').slice(0, 16)
  }

  encode(body: CursorBody): string {
    const payload = Buffer.from(JSON.stringify(body)).toString('base64url')
    return `${payload}.${this.#mac(payload)}`
  }

  /** Rejects cursors that were forged, belong to another account or continue another query. */
  decode(cursor: string, account: string, queryDigest: string): SortKey {
    const [payload, mac] = cursor.split('.')
    const fail = () => invalid('INVALID_CURSOR', 'The pagination cursor is invalid or does not match the original query.', 'cursor')
    if (!payload || !mac) throw fail()
    const expected = Buffer.from(this.#mac(payload))
    const given = Buffer.from(mac)
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw fail()
    let body: CursorBody
    try {
      body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as CursorBody
    } catch {
      throw fail()
    }
    if (body.a !== account || body.q !== queryDigest || !Array.isArray(body.k)) throw fail()
    return body.k
  }
}

export function queryDigest(query: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(query ?? null))
    .digest('base64url')
    .slice(0, 12)
}

export interface PageRequest<T> {
  items: Iterable<T>
  key: (item: T) => SortKey
  descending: boolean
  limit: number
  cursor: string | undefined
  account: string
  query: unknown
  codec: CursorCodec
}

export interface PageResult<T> {
  page: T[]
  cursor: string | undefined
}

/** Sorts, skips past the cursor's position and cuts one page; `cursor` is set only when more follow. */
export function keysetPage<T>(request: PageRequest<T>): PageResult<T> {
  const digest = queryDigest(request.query)
  const after = request.cursor ? request.codec.decode(request.cursor, request.account, digest) : null
  const direction = request.descending ? -1 : 1
  const keyed = [...request.items].map((item) => ({ item, key: request.key(item) }))
  const remaining = after ? keyed.filter((entry) => direction * compareKeys(entry.key, after) > 0) : keyed
  remaining.sort((a, b) => direction * compareKeys(a.key, b.key))
  const page = remaining.slice(0, request.limit)
  const last = page[page.length - 1]
  const cursor = remaining.length > request.limit && last ? request.codec.encode({ a: request.account, q: digest, k: last.key }) : undefined
  return { page: page.map((entry) => entry.item), cursor }
}
