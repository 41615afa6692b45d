// Listing state, encoded as opaque base64url JSON with a version field.
//
// Every cursor carries `s`, the versions already delivered whose LastUpdatedTime is at or after
// the watermark: `"<Id>:<SyncToken>"` (or `"<Id>:D"` for a deletion) → LastUpdatedTime in epoch
// seconds. The watermark sits a safety margin before the run started, so the next run sees those
// objects again; `s` lets it skip the ones whose version has not changed since, keeping the
// margin without redelivering. A bounded map: past the limit objects are simply redelivered.
import { ProviderInvalidError } from '../provider-errors.ts'
import type { QboEntityName } from './quickbooks-client.ts'
import { PROVIDER } from './quickbooks-errors.ts'

export type SeenMap = Record<string, number>

/** Position in an offset walk: the next STARTPOSITION and the sort key of the last object delivered. */
export interface WalkPosition {
  p: number
  /** Last delivered Id (full walks) — null before the first page. */
  id: string | null
  /** LastUpdatedTime (epoch ms) of the last delivered object, for LastUpdatedTime-ordered walks. */
  t?: number
}

interface Base {
  v: 1
  /** Realm and entity the cursor belongs to: a cursor is never valid for another connection. */
  r: string
  e: QboEntityName
  s: SeenMap
}

/** Mid-run checkpoint of a full walk (query ordered by Id). `w`: the watermark (ISO). */
export interface FullCheckpoint extends Base, WalkPosition {
  k: 'full'
  w: string
}

/** Mid-run checkpoint of a CDC run: re-run CDC from `since` and skip what `s` holds. */
export interface CdcCheckpoint extends Base {
  k: 'cdc'
  since: string
  w: string
}

/** Mid-run checkpoint of the LastUpdatedTime query fallback. */
export interface LutCheckpoint extends Base, WalkPosition {
  k: 'lut'
  since: string
  w: string
  why: FallbackReason
}

/** Cursor for the next incremental run. */
export interface IncrementalCursor extends Base {
  k: 'inc'
  since: string
}

export type FallbackReason = 'cdc_window' | 'cdc_overflow'
export type QboCursor = FullCheckpoint | CdcCheckpoint | LutCheckpoint | IncrementalCursor

export function encodeCursor(cursor: QboCursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url')
}

function invalid(reason: string): never {
  throw new ProviderInvalidError(PROVIDER, `Invalid QuickBooks cursor: ${reason}`)
}

function isIso(value: unknown): value is string {
  return typeof value === 'string' && !Number.isNaN(Date.parse(value))
}

export function decodeCursor(text: string, realmId: string, entity: QboEntityName): QboCursor {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'))
  } catch {
    return invalid('not base64url JSON')
  }
  const cursor = parsed as Partial<QboCursor> & Record<string, unknown>
  if (!cursor || typeof cursor !== 'object' || cursor.v !== 1) return invalid('unknown version')
  if (cursor.r !== realmId) return invalid(`it belongs to realm ${String(cursor.r)}, not ${realmId}`)
  if (cursor.e !== entity) return invalid(`it belongs to ${String(cursor.e)}, not ${entity}`)
  if (!cursor.s || typeof cursor.s !== 'object' || Array.isArray(cursor.s)) return invalid('missing seen map')
  switch (cursor.k) {
    case 'full':
    case 'lut':
      if (typeof cursor.p !== 'number' || cursor.p < 1 || !Number.isInteger(cursor.p)) return invalid('bad position')
      if (cursor.id !== null && typeof cursor.id !== 'string') return invalid('bad last id')
      if (!isIso(cursor.w)) return invalid('bad watermark')
      if (cursor.k === 'lut' && (!isIso(cursor.since) || (cursor.why !== 'cdc_window' && cursor.why !== 'cdc_overflow'))) return invalid('bad fallback state')
      break
    case 'cdc':
      if (!isIso(cursor.since) || !isIso(cursor.w)) return invalid('bad CDC state')
      break
    case 'inc':
      if (!isIso(cursor.since)) return invalid('bad since')
      break
    default:
      return invalid('unknown kind')
  }
  return cursor as QboCursor
}

export function seenKey(object: Record<string, unknown>): string {
  return object.status === 'Deleted' ? `${String(object.Id)}:D` : `${String(object.Id)}:${String(object.SyncToken ?? '')}`
}

/** Keeps entries at or after the watermark, newest first when over the limit. */
export function pruneSeen(seen: SeenMap, watermarkMs: number, limit: number): SeenMap {
  const floor = Math.floor(watermarkMs / 1000)
  const kept = Object.entries(seen).filter(([, seconds]) => seconds >= floor)
  if (kept.length > limit) kept.sort((a, b) => b[1] - a[1]).length = limit
  return Object.fromEntries(kept)
}
