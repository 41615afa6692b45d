// List endpoints and `expand[]`, with Stripe's semantics: `limit` 1..100 (default 10), cursor
// pagination by object id (`starting_after` walks to older objects, `ending_before` to newer ones;
// the page is newest first either way), `has_more`, `created` range filters, and expansion of id
// fields into objects up to four levels deep.
import type { OrderedCollection, StripeObject } from './stripe-collection.ts'
import { invalidRequest, noSuch } from './stripe-errors.ts'
import { idPrefix } from './stripe-ids.ts'
import { paymentMethodObject } from './stripe-objects.ts'
import { checkKnown, inRange, optInt, optRange, optString, optStringArray, type Params } from './stripe-params.ts'
import type { SimAccount, StripeState } from './stripe-state.ts'

/** Fields each object type lets `expand[]` turn from an id into the object. */
const EXPANDABLE: Record<string, readonly string[]> = {
  customer: ['default_source', 'invoice_settings.default_payment_method', 'test_clock'],
  product: ['default_price', 'tax_code'],
  price: ['product'],
  payment_intent: ['customer', 'latest_charge', 'payment_method', 'application', 'on_behalf_of', 'review'],
  charge: ['customer', 'balance_transaction', 'payment_intent', 'payment_method', 'application', 'application_fee', 'failure_balance_transaction', 'on_behalf_of', 'review', 'source_transfer', 'transfer'],
  refund: ['charge', 'balance_transaction', 'payment_intent', 'failure_balance_transaction', 'source_transfer_reversal', 'transfer_reversal'],
  balance_transaction: ['source'],
  event: [],
  webhook_endpoint: [],
}

function resolve(state: StripeState, account: SimAccount, id: string): unknown {
  if (idPrefix(id) === 'pm') return paymentMethodObject(id, 0)
  const collection = state.collectionFor(account, id)
  const found = collection?.get(id)
  if (found) return structuredClone(found)
  if (idPrefix(id) === 'cus' && account.customers.deleted(id)) return { id, object: 'customer', deleted: true }
  return id
}

function expandPath(state: StripeState, account: SimAccount, target: Record<string, unknown>, segments: string[], fullPath: string, depth: number): void {
  if (depth > 4) throw invalidRequest(`You cannot expand more than 4 levels of a property. Property: ${fullPath}`, { param: 'expand' })
  const type = typeof target.object === 'string' ? target.object : ''
  const allowed = EXPANDABLE[type] ?? []
  // The longest expandable field that prefixes the remaining path (some, like
  // `invoice_settings.default_payment_method`, contain a dot themselves).
  let take = 0
  for (let n = segments.length; n > 0; n--) {
    if (allowed.includes(segments.slice(0, n).join('.'))) {
      take = n
      break
    }
  }
  if (take === 0) throw invalidRequest(`This property cannot be expanded (${segments.join('.')}).`, { param: 'expand' })
  let holder: Record<string, unknown> = target
  for (const segment of segments.slice(0, take - 1)) {
    const next = holder[segment]
    if (!next || typeof next !== 'object') return
    holder = next as Record<string, unknown>
  }
  const field = segments[take - 1] as string
  const value = holder[field]
  if (typeof value === 'string') holder[field] = resolve(state, account, value)
  const expanded = holder[field]
  const rest = segments.slice(take)
  if (rest.length > 0 && expanded && typeof expanded === 'object') expandPath(state, account, expanded as Record<string, unknown>, rest, fullPath, depth + 1)
}

export function readExpand(params: Params): string[] {
  return optStringArray(params, 'expand') ?? []
}

/** Returns the object as stored when nothing is expanded, else an expanded copy. */
export function render(state: StripeState, account: SimAccount, object: Record<string, unknown>, expand: string[]): Record<string, unknown> {
  if (expand.length === 0) return object
  const copy = structuredClone(object)
  for (const path of expand) expandPath(state, account, copy, path.split('.'), path, 1)
  return copy
}

export interface ListSpec<T extends StripeObject> {
  collection: OrderedCollection<T>
  /** Path shown in the list's `url`, e.g. `/v1/customers`. */
  url: string
  /** Name in "No such <kind>" messages for cursors. */
  kind: string
  /** Resource-specific parameters accepted besides the common ones. */
  extraParams?: readonly string[]
  filter?: (object: T) => boolean
  /** Events only: objects older than this are gone. */
  notBefore?: number
}

const COMMON_LIST_PARAMS = ['limit', 'starting_after', 'ending_before', 'created', 'expand', 'include']

export function parseLimit(params: Params): number {
  const limit = optInt(params, 'limit') ?? 10
  if (limit < 1) throw invalidRequest('This value must be greater than or equal to 1.', { param: 'limit' })
  if (limit > 100) throw invalidRequest('This value must be less than or equal to 100.', { param: 'limit' })
  return limit
}

export function listObjects<T extends StripeObject>(state: StripeState, account: SimAccount, params: Params, spec: ListSpec<T>): Record<string, unknown> {
  checkKnown(params, [...COMMON_LIST_PARAMS, ...(spec.extraParams ?? [])])
  const limit = parseLimit(params)
  const startingAfter = optString(params, 'starting_after')
  const endingBefore = optString(params, 'ending_before')
  if (startingAfter && endingBefore) throw invalidRequest('You may only specify one of these parameters: ending_before, starting_after.', { param: 'ending_before' })
  const created = optRange(params, 'created')
  const expand = readExpand(params)
  for (const path of expand) {
    if (!path.startsWith('data.')) throw invalidRequest(`This property cannot be expanded (${path}). You may want to try expanding 'data.${path}' instead.`, { param: 'expand' })
  }
  const include = optStringArray(params, 'include') ?? []
  const matches = (object: T): boolean => inRange(object.created, created) && (spec.notBefore === undefined || object.created >= spec.notBefore) && (spec.filter ? spec.filter(object) : true)

  const cursorId = startingAfter ?? endingBefore
  let cursor = undefined
  if (cursorId) {
    cursor = spec.collection.cursorKey(cursorId)
    if (!cursor) throw noSuch(spec.kind, cursorId, startingAfter ? 'starting_after' : 'ending_before')
  }
  // Walking newest first, nothing older than the lower `created` bound can match: stop there.
  const floor = Math.max(created?.gte ?? -Infinity, created?.gt !== undefined ? created.gt + 1 : -Infinity, spec.notBefore ?? -Infinity)
  const picked: T[] = []
  if (endingBefore) {
    for (const object of spec.collection.ascending(cursor)) {
      if (matches(object)) picked.push(object)
      if (picked.length > limit) break
    }
  } else {
    for (const object of spec.collection.descending(cursor)) {
      if (object.created < floor) break
      if (matches(object)) picked.push(object)
      if (picked.length > limit) break
    }
  }
  const hasMore = picked.length > limit
  const page = picked.slice(0, limit)
  if (endingBefore) page.reverse()
  const itemExpand = expand.map((path) => path.slice('data.'.length))
  const body: Record<string, unknown> = {
    object: 'list',
    data: page.map((object) => render(state, account, object, itemExpand)),
    has_more: hasMore,
    url: spec.url,
  }
  if (include.includes('total_count')) {
    let total = 0
    for (const object of spec.collection.descending()) if (matches(object)) total += 1
    body.total_count = total
  }
  return body
}
