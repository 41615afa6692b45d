// One kind of Stripe object in one account, kept in list order. Stripe lists newest first by
// `created`; objects created in the same second fall back to id order, so a cursor (an object id)
// always names an exact position.
export interface StripeObject {
  id: string
  object: string
  created: number
  [key: string]: unknown
}

export interface CursorKey {
  created: number
  id: string
}

export function compareKeys(a: CursorKey, b: CursorKey): number {
  if (a.created !== b.created) return a.created - b.created
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

export class OrderedCollection<T extends StripeObject = StripeObject> {
  /** Ascending by (created, id); lists walk it backwards. */
  #items: T[] = []
  #byId = new Map<string, T>()
  /** Deleted objects whose id still works as a list cursor (Stripe keeps deleted customers). */
  #tombstones = new Map<string, T>()
  readonly keepsDeleted: boolean

  constructor(options: { keepsDeleted?: boolean } = {}) {
    this.keepsDeleted = options.keepsDeleted ?? false
  }

  get size(): number {
    return this.#items.length
  }

  get(id: string): T | undefined {
    return this.#byId.get(id)
  }

  /** The last state of a deleted object, for collections that keep them. */
  deleted(id: string): T | undefined {
    return this.#tombstones.get(id)
  }

  /** Index of the first item whose key is greater than `key` (or >= when `inclusive`). */
  #bound(key: CursorKey, inclusive: boolean): number {
    let low = 0
    let high = this.#items.length
    while (low < high) {
      const mid = (low + high) >>> 1
      const cmp = compareKeys(this.#items[mid] as T, key)
      if (cmp < 0 || (cmp === 0 && !inclusive)) low = mid + 1
      else high = mid
    }
    return low
  }

  insert(item: T): void {
    if (this.#byId.has(item.id)) throw new Error(`duplicate id ${item.id}`)
    this.#items.splice(this.#bound(item, false), 0, item)
    this.#byId.set(item.id, item)
  }

  /** Swaps in a new version of an object; `created` never changes, so neither does its position. */
  replace(item: T): void {
    const index = this.#bound(item, true)
    if (this.#items[index]?.id !== item.id) throw new Error(`no such item ${item.id}`)
    this.#items[index] = item
    this.#byId.set(item.id, item)
  }

  remove(id: string): T | undefined {
    const item = this.#byId.get(id)
    if (!item) return undefined
    this.#items.splice(this.#bound(item, true), 1)
    this.#byId.delete(id)
    if (this.keepsDeleted) this.#tombstones.set(id, item)
    return item
  }

  clear(): void {
    this.#items = []
    this.#byId.clear()
    this.#tombstones.clear()
  }

  /** Position of a cursor id: a live object, or a deleted one this collection keeps. */
  cursorKey(id: string): CursorKey | undefined {
    const item = this.#byId.get(id) ?? this.#tombstones.get(id)
    return item ? { created: item.created, id: item.id } : undefined
  }

  /** Newest first, strictly after `after` in that order. */
  *descending(after?: CursorKey): Generator<T> {
    for (let i = (after ? this.#bound(after, true) : this.#items.length) - 1; i >= 0; i--) yield this.#items[i] as T
  }

  /** Oldest first, strictly after `after` in that order (i.e. newer than it). */
  *ascending(after?: CursorKey): Generator<T> {
    for (let i = after ? this.#bound(after, false) : 0; i < this.#items.length; i++) yield this.#items[i] as T
  }

  newest(): T | undefined {
    return this.#items[this.#items.length - 1]
  }

  all(): readonly T[] {
    return this.#items
  }
}
