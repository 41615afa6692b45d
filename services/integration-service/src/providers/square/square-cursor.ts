// The adapter's opaque sync cursor: base64url JSON with a version field. Two shapes:
// - a checkpoint, while a run has more pages: where to resume (Square's page cursor and, for
//   payments, which location is being walked) plus the run's start time;
// - a watermark, after the last page: the start time of the finished run (changes made during a
//   run are after it, so the next incremental run catches them) and fingerprints of records
//   already delivered inside the overlap window, so the overlap never re-delivers them.
import { ProviderInvalidError } from '../provider-errors.ts'
import type { EntityName } from '../canonical.ts'

/** [external id, change stamp]: a record version already delivered. */
export type Fingerprint = [string, string]

export interface SquareCheckpoint {
  v: 1
  kind: 'checkpoint'
  entity: EntityName
  mode: 'full' | 'incremental'
  /** ISO start of the run: the next watermark. */
  runStart: string
  /** ISO lower bound of an incremental run's window (watermark minus the consistency lag). */
  since: string | null
  /** Square's cursor for the next page; null = first page of the current location. */
  page: string | null
  /** Payments are listed per location. */
  locations?: string[]
  locationIndex?: number
  /** Fingerprints from the previous watermark, still suppressing repeats in this run. */
  skip: Fingerprint[]
  /** Fingerprints gathered so far for the next watermark. */
  seen: Fingerprint[]
}

export interface SquareWatermark {
  v: 1
  kind: 'watermark'
  entity: EntityName
  since: string
  recent: Fingerprint[]
}

export type SquareCursor = SquareCheckpoint | SquareWatermark

export function encodeCursor(cursor: SquareCursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url')
}

export function decodeCursor(raw: string | null, entity: EntityName): SquareCursor | null {
  if (raw === null || raw === '') return null
  let parsed: SquareCursor
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as SquareCursor
  } catch {
    throw new ProviderInvalidError('square', 'Unreadable Square sync cursor')
  }
  if (parsed?.v !== 1 || (parsed.kind !== 'checkpoint' && parsed.kind !== 'watermark')) {
    throw new ProviderInvalidError('square', 'Unsupported Square sync cursor version')
  }
  if (parsed.entity !== entity) throw new ProviderInvalidError('square', `Square sync cursor belongs to ${parsed.entity}, not ${entity}`)
  return parsed
}
