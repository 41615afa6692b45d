// Full and incremental listing for one QuickBooks entity.
//
// Full runs walk `SELECT * ... ORDERBY Id STARTPOSITION p MAXRESULTS n`. STARTPOSITION is an
// offset, and offsets shift when objects before the position disappear (hard-deleted invoices and
// payments), which would silently skip objects. Each page therefore re-reads the last delivered
// object's position and checks that the page starts at or before it; when it does not, the walk
// steps back until it does and drops what it already delivered (Id <= last Id). Nothing is missed
// and nothing repeated. Inactive customers and items are included (`Active IN (true,false)`), so
// deactivations move nothing.
//
// Watermark: a full run records, before its first page, min(local clock, Intuit's `time` of the
// first answer) minus a safety margin, floored to the second (LastUpdatedTime has whole seconds).
// Anything changed while the walk runs has a LastUpdatedTime after it and is picked up by the next
// incremental run. The margin absorbs clock skew between us and Intuit and Intuit's own
// replication lag; the `seen` map in the cursor keeps it from redelivering unchanged objects.
//
// Incremental runs use CDC (`/cdc?entities=X&changedSince=watermark`), which also reports hard
// deletions. CDC cannot look back more than 30 days and returns at most 1000 objects per entity;
// in either case the run falls back to a query on MetaData.LastUpdatedTime (walked like the full
// run, keyed by LastUpdatedTime then Id) and logs why. That query cannot see hard deletions: on a
// 30-day fallback none are reported; on a 1000-object overflow only those inside the truncated
// CDC answer are. A periodic full run reconciles what was missed.
import type { CanonicalRecord, EntityName } from '../canonical.ts'
import type { ChangePage } from '../provider-adapter.ts'
import { ProviderInvalidError } from '../provider-errors.ts'
import type { QboEntityName, QboObject, QuickBooksClient } from './quickbooks-client.ts'
import { encodeCursor, pruneSeen, seenKey } from './quickbooks-cursor.ts'
import type { CdcCheckpoint, FallbackReason, FullCheckpoint, IncrementalCursor, LutCheckpoint, SeenMap, WalkPosition } from './quickbooks-cursor.ts'
import { isDeletion, lastUpdatedMs, mapRecord, needsHomeCurrency } from './quickbooks-mapper.ts'

export const CDC_MAX_OBJECTS = 1000
const CDC_WINDOW_MS = 30 * 86_400_000
/** Switch to the query fallback a little before Intuit's 30-day limit, so skew never trips it. */
const CDC_WINDOW_GUARD_MS = 60 * 60_000

export interface QuickBooksLogger {
  warn(details: Record<string, unknown>, message: string): void
}

export interface ListingSettings {
  pageSize: number
  safetyMarginMs: number
  seenLimit: number
  logger: QuickBooksLogger | undefined
}

export interface ListingContext<E extends EntityName> {
  client: QuickBooksClient
  entity: E
  qbo: QboEntityName
  settings: ListingSettings
  homeCurrency(): Promise<string | null>
}

interface SortKey {
  t: number
  id: bigint
}

function compareKeys(a: SortKey, b: SortKey): number {
  if (a.t !== b.t) return a.t < b.t ? -1 : 1
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

function idOf(object: QboObject): bigint {
  const id = object.Id
  if (typeof id !== 'string' || !/^\d+$/.test(id)) throw new ProviderInvalidError('quickbooks', `QuickBooks object with a non-numeric Id ${JSON.stringify(id)}`)
  return BigInt(id)
}

/** Intuit accepts explicit offsets everywhere; whole seconds match LastUpdatedTime's precision. */
export function intuitLiteral(iso: string): string {
  return `${new Date(Date.parse(iso)).toISOString().slice(0, 19)}+00:00`
}

export function computeWatermark(localStartMs: number, serverTimeMs: number | null, marginMs: number, notBefore?: string): string {
  const reference = serverTimeMs === null ? localStartMs : Math.min(localStartMs, serverTimeMs)
  let ms = Math.floor((reference - marginMs) / 1000) * 1000
  if (notBefore !== undefined) ms = Math.max(ms, Date.parse(notBefore))
  return new Date(ms).toISOString()
}

interface WalkStep {
  objects: QboObject[]
  position: WalkPosition
  end: boolean
  serverTime: number | null
}

const REWIND_FIRST_STEP = 16

/**
 * Offset pagination made safe against shifting offsets (see the module comment). `keyOf` must
 * match the query's ORDERBY; ties in LastUpdatedTime are ordered by Id.
 */
async function* offsetWalk(fetch: (start: number, size: number) => Promise<{ objects: QboObject[]; serverTime: number | null }>, keyOf: (object: QboObject) => SortKey, from: WalkPosition, pageSize: number): AsyncGenerator<WalkStep> {
  let position = from.p
  let last: SortKey | null = from.id === null ? null : { t: from.t ?? 0, id: BigInt(from.id) }
  for (;;) {
    // With a last object, re-read its slot (one extra row) to prove the page joins up.
    let start = last === null ? position : Math.max(1, position - 1)
    const size = last === null ? pageSize : pageSize + 1
    let page = await fetch(start, size)
    let step = REWIND_FIRST_STEP
    while (last !== null && start > 1) {
      const first = page.objects[0]
      if (first !== undefined && compareKeys(keyOf(first), last) <= 0) break
      // Objects before our offset vanished (or moved later): step back until the page overlaps.
      start = Math.max(1, start - step)
      step *= 2
      page = await fetch(start, size)
    }
    const previous = last
    const fresh = previous === null ? page.objects : page.objects.filter((object) => compareKeys(keyOf(object), previous) > 0)
    const end = page.objects.length < size
    position = start + page.objects.length
    const tail = fresh[fresh.length - 1]
    if (tail !== undefined) last = keyOf(tail)
    if (fresh.length === 0 && !end) continue
    yield {
      objects: fresh,
      position: { p: position, id: last === null ? null : last.id.toString(), ...(last !== null && last.t !== 0 ? { t: last.t } : {}) },
      end,
      serverTime: page.serverTime,
    }
    if (end) return
  }
}

interface BuiltPage<E extends EntityName> {
  records: Array<CanonicalRecord<E>>
  deletedIds: string[]
}

/**
 * Maps objects not already in `seen`, and remembers the delivered versions changed at or after
 * `rememberFromMs` (null: remember everything, for CDC checkpoints).
 */
async function buildPage<E extends EntityName>(ctx: ListingContext<E>, objects: QboObject[], seen: SeenMap, rememberFromMs: number | null, limit: number): Promise<BuiltPage<E>> {
  const pending = objects.filter((object) => !(seenKey(object) in seen))
  const home = needsHomeCurrency(ctx.qbo, pending) ? await ctx.homeCurrency() : null
  const records: Array<CanonicalRecord<E>> = []
  const deletedIds: string[] = []
  let size = Object.keys(seen).length
  for (const object of pending) {
    if (isDeletion(ctx.qbo, object)) deletedIds.push(String(object.Id))
    else records.push(mapRecord(ctx.entity, object, home))
    const updated = lastUpdatedMs(object)
    if (updated !== null && (rememberFromMs === null || updated >= rememberFromMs) && size < limit) {
      seen[seenKey(object)] = Math.floor(updated / 1000)
      size++
    }
  }
  return { records, deletedIds }
}

function finalCursor(ctx: ListingContext<EntityName>, since: string, seen: SeenMap): string {
  const cursor: IncrementalCursor = { v: 1, k: 'inc', r: ctx.client.realmId, e: ctx.qbo, since, s: pruneSeen(seen, Date.parse(since), ctx.settings.seenLimit) }
  return encodeCursor(cursor)
}

const activeFilter = (qbo: QboEntityName): boolean => qbo === 'Customer' || qbo === 'Item'

export async function* listFull<E extends EntityName>(ctx: ListingContext<E>, checkpoint: FullCheckpoint | null): AsyncGenerator<ChangePage<E>> {
  const localStart = Date.now()
  const { client, qbo, settings } = ctx
  let watermark = checkpoint?.w ?? null
  const seen: SeenMap = { ...(checkpoint?.s ?? {}) }
  const where = activeFilter(qbo) ? ' WHERE Active IN (true,false)' : ''
  const fetch = (start: number, size: number) => client.query(qbo, `SELECT * FROM ${qbo}${where} ORDERBY Id STARTPOSITION ${start} MAXRESULTS ${size}`)
  const from: WalkPosition = checkpoint ? { p: checkpoint.p, id: checkpoint.id } : { p: 1, id: null }
  for await (const step of offsetWalk(fetch, (object) => ({ t: 0, id: idOf(object) }), from, settings.pageSize)) {
    watermark ??= computeWatermark(localStart, step.serverTime, settings.safetyMarginMs)
    const page = await buildPage(ctx, step.objects, seen, Date.parse(watermark), settings.seenLimit)
    if (step.end) {
      yield { ...page, cursor: finalCursor(ctx, watermark, seen), hasMore: false }
      return
    }
    const next: FullCheckpoint = { v: 1, k: 'full', r: client.realmId, e: qbo, p: step.position.p, id: step.position.id, w: watermark, s: seen }
    yield { ...page, cursor: encodeCursor(next), hasMore: true }
  }
}

export async function* listByLastUpdated<E extends EntityName>(
  ctx: ListingContext<E>,
  state: { since: string; watermark: string | null; seen: SeenMap; why: FallbackReason; position: WalkPosition; extraDeleted: QboObject[] },
): AsyncGenerator<ChangePage<E>> {
  const localStart = Date.now()
  const { client, qbo, settings } = ctx
  let watermark = state.watermark
  const seen = { ...state.seen }
  let extraDeleted = state.extraDeleted
  const active = activeFilter(qbo) ? ' AND Active IN (true,false)' : ''
  const fetch = (start: number, size: number) => client.query(qbo, `SELECT * FROM ${qbo} WHERE MetaData.LastUpdatedTime >= '${intuitLiteral(state.since)}'${active} ORDERBY MetaData.LastUpdatedTime STARTPOSITION ${start} MAXRESULTS ${size}`)
  const keyOf = (object: QboObject): SortKey => ({ t: lastUpdatedMs(object) ?? 0, id: idOf(object) })
  for await (const step of offsetWalk(fetch, keyOf, state.position, settings.pageSize)) {
    watermark ??= computeWatermark(localStart, step.serverTime, settings.safetyMarginMs, state.since)
    // Deletions from a truncated CDC answer ride on the first page (and are remembered like it).
    const page = await buildPage(ctx, [...extraDeleted, ...step.objects], seen, Date.parse(watermark), settings.seenLimit)
    const deletedIds = [...new Set(page.deletedIds)]
    extraDeleted = []
    if (step.end) {
      yield { records: page.records, deletedIds, cursor: finalCursor(ctx, watermark, seen), hasMore: false }
      return
    }
    const next: LutCheckpoint = { v: 1, k: 'lut', r: client.realmId, e: qbo, since: state.since, w: watermark, why: state.why, ...step.position, s: seen }
    yield { records: page.records, deletedIds, cursor: encodeCursor(next), hasMore: true }
  }
}

function isCdcWindowError(error: unknown): boolean {
  return error instanceof ProviderInvalidError && /changedSince/i.test(error.message)
}

export async function* listIncremental<E extends EntityName>(ctx: ListingContext<E>, cursor: IncrementalCursor | CdcCheckpoint | LutCheckpoint): AsyncGenerator<ChangePage<E>> {
  const { client, qbo, settings } = ctx
  if (cursor.k === 'lut') {
    yield* listByLastUpdated(ctx, { since: cursor.since, watermark: cursor.w, seen: cursor.s, why: cursor.why, position: { p: cursor.p, id: cursor.id, ...(cursor.t !== undefined ? { t: cursor.t } : {}) }, extraDeleted: [] })
    return
  }
  const localStart = Date.now()
  const since = cursor.since
  const resumeWatermark = cursor.k === 'cdc' ? cursor.w : null
  const fallback = (why: FallbackReason, watermark: string | null, extraDeleted: QboObject[]) => {
    settings.logger?.warn(
      { provider: 'quickbooks', realmId: client.realmId, entity: qbo, since, reason: why },
      why === 'cdc_window'
        ? `QuickBooks CDC reaches back only 30 days; listing ${qbo} changes since ${since} with a MetaData.LastUpdatedTime query, which cannot report hard deletions`
        : `QuickBooks CDC returned its ceiling of ${CDC_MAX_OBJECTS} ${qbo} changes; listing them with a MetaData.LastUpdatedTime query instead (only deletions inside the CDC answer are reported)`,
    )
    return listByLastUpdated(ctx, { since, watermark, seen: cursor.s, why, position: { p: 1, id: null }, extraDeleted })
  }

  if (Date.parse(since) < localStart - CDC_WINDOW_MS + CDC_WINDOW_GUARD_MS) {
    yield* fallback('cdc_window', resumeWatermark, [])
    return
  }
  let result: Awaited<ReturnType<QuickBooksClient['cdc']>>
  try {
    result = await client.cdc(qbo, intuitLiteral(since))
  } catch (error) {
    if (!isCdcWindowError(error)) throw error
    yield* fallback('cdc_window', resumeWatermark, [])
    return
  }
  const watermark = resumeWatermark ?? computeWatermark(localStart, result.serverTime, settings.safetyMarginMs, since)
  if (result.objects.length >= CDC_MAX_OBJECTS) {
    yield* fallback(
      'cdc_overflow',
      watermark,
      result.objects.filter((object) => object.status === 'Deleted'),
    )
    return
  }
  const seen: SeenMap = { ...cursor.s }
  const pending = result.objects.filter((object) => !(seenKey(object) in seen))
  // Checkpoints remember every delivered version (a resumed run re-reads the same CDC answer).
  const checkpointLimit = settings.seenLimit + CDC_MAX_OBJECTS
  for (let offset = 0; offset < pending.length || offset === 0; offset += settings.pageSize) {
    const chunk = pending.slice(offset, offset + settings.pageSize)
    const page = await buildPage(ctx, chunk, seen, null, checkpointLimit)
    if (offset + settings.pageSize >= pending.length) {
      yield { ...page, cursor: finalCursor(ctx, watermark, seen), hasMore: false }
      return
    }
    const next: CdcCheckpoint = { v: 1, k: 'cdc', r: client.realmId, e: qbo, since, w: watermark, s: seen }
    yield { ...page, cursor: encodeCursor(next), hasMore: true }
  }
}
