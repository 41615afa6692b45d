// listChanges for Stripe. Stripe objects carry no update time, so:
// - a full run walks the list endpoint newest first with `starting_after`, after noting the
//   newest event as its watermark (changes during the walk are then caught incrementally);
// - an incremental run replays `/v1/events` of the entity's types after the watermark, oldest
//   first (`ending_before` walks towards newer events), keeping per page the latest state of each
//   object and reporting `*.deleted` events as deletions.
import type Stripe from 'stripe'
import type { CanonicalRecord, EntityName } from '../canonical.ts'
import type { ChangePage, ListOptions } from '../provider-adapter.ts'
import { ProviderInvalidError } from '../provider-errors.ts'
import { decodeCursor, encodeCursor, type Position, type StripeCursor, type Watermark } from './stripe-cursor.ts'
import { call } from './stripe-errors.ts'
import { isoFromSeconds, mapCharge, mapCustomer, mapProduct } from './stripe-mapper.ts'

/** Stripe keeps events 30 days; a watermark older than this (with a day's margin) cannot be replayed. */
export const EVENT_REPLAY_WINDOW_SECONDS = 29 * 86_400
/** When there is no event to anchor on, look back this far so clock skew cannot lose one. */
const SINCE_MARGIN_SECONDS = 300

interface ListPage {
  data: Array<{ id: string; created: number }>
  has_more: boolean
}

interface EntitySpec {
  eventTypes: string[]
  list(client: Stripe, params: { limit: number; starting_after?: string; created?: { lte: number } }): Promise<ListPage>
  fromList(object: unknown): CanonicalRecord
  /** Current records for objects seen in events (null: use the event's own snapshot). */
  refetch: ((client: Stripe, ids: string[]) => Promise<CanonicalRecord[]>) | null
  fromEvent(object: unknown, occurredAt: string): CanonicalRecord
}

const SPECS: Partial<Record<EntityName, EntitySpec>> = {
  customer: {
    eventTypes: ['customer.created', 'customer.updated', 'customer.deleted'],
    list: (client, params) => client.customers.list(params),
    fromList: (object) => mapCustomer(object as Stripe.Customer),
    refetch: null,
    fromEvent: (object, occurredAt) => mapCustomer(object as Stripe.Customer, occurredAt),
  },
  product: {
    eventTypes: ['product.created', 'product.updated', 'product.deleted'],
    list: (client, params) => client.products.list({ ...params, expand: ['data.default_price'] }),
    fromList: (object) => mapProduct(object as Stripe.Product),
    // Product events carry `default_price` as an id; the price amount needs the expanded object.
    refetch: async (client, ids) => {
      const out: CanonicalRecord[] = []
      for (let i = 0; i < ids.length; i += 100) {
        const batch = ids.slice(i, i + 100)
        const page = await client.products.list({ ids: batch, limit: 100, expand: ['data.default_price'] })
        const byId = new Map(page.data.map((product) => [product.id, product]))
        // Keep event order; a product deleted since its event is skipped (its deletion event follows).
        for (const id of batch) {
          const product = byId.get(id)
          if (product) out.push(mapProduct(product))
        }
      }
      return out
    },
    fromEvent: (object) => mapProduct(object as Stripe.Product),
  },
  payment: {
    eventTypes: ['charge.succeeded', 'charge.failed', 'charge.pending', 'charge.captured', 'charge.refunded', 'charge.updated', 'charge.expired'],
    list: (client, params) => client.charges.list(params),
    fromList: (object) => mapCharge(object as Stripe.Charge),
    refetch: null,
    fromEvent: (object, occurredAt) => mapCharge(object as Stripe.Charge, occurredAt),
  },
}

export const STRIPE_ENTITIES = Object.keys(SPECS) as EntityName[]

export interface SyncDeps {
  client: Stripe
  signal?: AbortSignal
  defaultRetryAfterMs: number
  now: () => number
}

function specFor(entity: EntityName): EntitySpec {
  const spec = SPECS[entity]
  if (!spec) throw new ProviderInvalidError('stripe', `Stripe does not provide ${entity} records`, { providerCode: 'entity_unsupported' })
  return spec
}

function isMissingCursor(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string; param?: string } }).cause
  return cause?.code === 'resource_missing' && cause.param === 'starting_after'
}

/** The newest event of the entity's types (else of any type): where the next incremental run starts. */
async function captureWatermark(deps: SyncDeps, spec: EntitySpec): Promise<Watermark> {
  const since = Math.floor(deps.now() / 1000) - SINCE_MARGIN_SECONDS
  const typed = await call(() => deps.client.events.list({ types: spec.eventTypes, limit: 1 }), deps.defaultRetryAfterMs)
  const newest = typed.data[0] ?? (await call(() => deps.client.events.list({ limit: 1 }), deps.defaultRetryAfterMs)).data[0]
  return { anchor: newest ? { id: newest.id, created: newest.created } : null, since }
}

async function* fullWalk<E extends EntityName>(deps: SyncDeps, entity: E, spec: EntitySpec, pageSize: number, start: Position | null, wm: Watermark): AsyncGenerator<ChangePage<E>> {
  let after = start
  for (;;) {
    deps.signal?.throwIfAborted()
    const cursorAt = after
    let page: ListPage
    let records: CanonicalRecord[]
    try {
      page = await call(() => spec.list(deps.client, { limit: pageSize, ...(cursorAt ? { starting_after: cursorAt.id } : {}) }), deps.defaultRetryAfterMs)
      records = page.data.map(spec.fromList)
    } catch (error) {
      if (!cursorAt || !isMissingCursor(error)) throw error
      // The object we stopped at was deleted (e.g. a product) and no longer works as a cursor:
      // resume from its creation second, skipping what sorts at or before it there.
      page = await call(() => spec.list(deps.client, { limit: pageSize, created: { lte: cursorAt.created } }), deps.defaultRetryAfterMs)
      records = page.data.filter((object) => object.created < cursorAt.created || object.id < cursorAt.id).map(spec.fromList)
    }
    const last = page.data[page.data.length - 1]
    if (last) after = { id: last.id, created: last.created }
    if (page.has_more) {
      yield { records: records as Array<CanonicalRecord<E>>, deletedIds: [], cursor: encodeCursor({ v: 1, entity, phase: 'full', after, wm }), hasMore: true }
    } else {
      yield { records: records as Array<CanonicalRecord<E>>, deletedIds: [], cursor: encodeCursor({ v: 1, entity, phase: 'incremental', wm }), hasMore: false }
      return
    }
  }
}

/** Latest state per object over a run of events (oldest first), with deletions. */
async function applyEvents<E extends EntityName>(deps: SyncDeps, spec: EntitySpec, events: Stripe.Event[], seen: Set<string>): Promise<{ records: Array<CanonicalRecord<E>>; deletedIds: string[] }> {
  const latest = new Map<string, Stripe.Event>()
  for (const event of events) {
    if (seen.has(event.id)) continue
    seen.add(event.id)
    const object = event.data.object as { id?: string }
    if (!object.id) continue
    latest.delete(object.id)
    latest.set(object.id, event)
  }
  const deletedIds: string[] = []
  const changed: Stripe.Event[] = []
  for (const [id, event] of latest) {
    if (event.type.endsWith('.deleted')) deletedIds.push(id)
    else changed.push(event)
  }
  const records = spec.refetch
    ? await call(
        () =>
          (spec.refetch as NonNullable<EntitySpec['refetch']>)(
            deps.client,
            changed.map((event) => (event.data.object as { id: string }).id),
          ),
        deps.defaultRetryAfterMs,
      )
    : changed.map((event) => spec.fromEvent(event.data.object, isoFromSeconds(event.created)))
  return { records: records as Array<CanonicalRecord<E>>, deletedIds }
}

async function* incremental<E extends EntityName>(deps: SyncDeps, entity: E, spec: EntitySpec, pageSize: number, start: Watermark): AsyncGenerator<ChangePage<E>> {
  let wm = start
  const seen = new Set<string>()
  const cursor = (): string => encodeCursor({ v: 1, entity, phase: 'incremental', wm })
  if (wm.anchor) {
    for (;;) {
      deps.signal?.throwIfAborted()
      const anchor: Position = wm.anchor as Position
      const page = await call(() => deps.client.events.list({ types: spec.eventTypes, ending_before: anchor.id, created: { gte: anchor.created }, limit: pageSize }), deps.defaultRetryAfterMs)
      // The page is newest first; replay it oldest first.
      const events = [...page.data].reverse()
      const { records, deletedIds } = await applyEvents<E>(deps, spec, events, seen)
      const newest = page.data[0]
      if (newest) wm = { anchor: { id: newest.id, created: newest.created }, since: wm.since }
      yield { records, deletedIds, cursor: cursor(), hasMore: page.has_more }
      if (!page.has_more) return
    }
  }
  // No event to anchor on yet: collect everything since `since` (newest first), then replay
  // oldest first in pages, anchoring on the last event of each.
  const all: Stripe.Event[] = []
  let startingAfter: string | undefined
  for (;;) {
    deps.signal?.throwIfAborted()
    const page = await call(() => deps.client.events.list({ types: spec.eventTypes, created: { gte: wm.since }, limit: 100, ...(startingAfter ? { starting_after: startingAfter } : {}) }), deps.defaultRetryAfterMs)
    all.push(...page.data)
    const last = page.data[page.data.length - 1]
    if (!page.has_more || !last) break
    startingAfter = last.id
  }
  all.reverse()
  if (all.length === 0) {
    yield { records: [], deletedIds: [], cursor: cursor(), hasMore: false }
    return
  }
  for (let i = 0; i < all.length; i += pageSize) {
    const chunk = all.slice(i, i + pageSize)
    const { records, deletedIds } = await applyEvents<E>(deps, spec, chunk, seen)
    const newest = chunk[chunk.length - 1] as Stripe.Event
    wm = { anchor: { id: newest.id, created: newest.created }, since: wm.since }
    yield { records, deletedIds, cursor: cursor(), hasMore: i + pageSize < all.length }
  }
}

export async function* listStripeChanges<E extends EntityName>(deps: SyncDeps, entity: E, options: ListOptions): AsyncGenerator<ChangePage<E>> {
  const spec = specFor(entity)
  const pageSize = Math.min(100, Math.max(1, options.pageSize ?? 100))
  let cursor: StripeCursor | null = options.cursor ? decodeCursor(options.cursor, entity) : null
  // A full run resumes only a full walk's checkpoint; anything else starts the walk over.
  if (options.mode === 'full' && cursor?.phase !== 'full') cursor = null
  if (cursor?.phase === 'incremental') {
    const nowSeconds = Math.floor(deps.now() / 1000)
    const from = cursor.wm.anchor?.created ?? cursor.wm.since
    // Events older than Stripe's retention are gone: only a new full walk can catch up.
    if (nowSeconds - from <= EVENT_REPLAY_WINDOW_SECONDS) {
      yield* incremental(deps, entity, spec, pageSize, cursor.wm)
      return
    }
    cursor = null
  }
  if (cursor === null) {
    const wm = await captureWatermark(deps, spec)
    yield* fullWalk(deps, entity, spec, pageSize, null, wm)
    return
  }
  yield* fullWalk(deps, entity, spec, pageSize, cursor.after, cursor.wm)
}
