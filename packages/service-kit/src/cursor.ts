// Opaque pagination cursors: base64url JSON that clients pass back untouched. A client can still
// send back anything, so what a cursor decodes to is validated as strictly as any other input:
// a cursor whose contents Postgres would refuse (a bad date, a non-UUID id, an out-of-range
// number) is a 400 INVALID_CURSOR, never a 500.
import { FormatRegistry, Type, type TSchema, type Static, type TString } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { BadRequestError } from '@hub/contracts'

// ISO 8601 with a zone, or Postgres's own timestamptz text ("2026-01-02 03:04:05.123456+00").
const ISO_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-](0\d|1[0-4])(:?[0-5]\d)?)$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const INT64_MAX = 9223372036854775807n
const INT32_MAX = 2147483647

/** A timestamp with a zone, year 0001 to 9999, that is a real instant (no 31 February). */
export function isTimestampInRange(value: string): boolean {
  const match = ISO_TIMESTAMP.exec(value)
  if (!match) return false
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  if (year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return false
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate() + (month === 2 && !isLeap(year) ? -1 : 0)
  return day <= daysInMonth
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i

/**
 * The `date-time` format of every route schema: RFC 3339, and a year Postgres and JavaScript both
 * take (0001 to 9999), so `0000-01-01T00:00:00Z` in a filter is a 400 rather than a driver error.
 */
export function isDateTimeInRange(value: string): boolean {
  return RFC3339.test(value) && isTimestampInRange(value.toUpperCase().replace(/(\.\d{6})\d+/, '$1'))
}

const isLeap = (year: number): boolean => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0

/** A decimal integer that fits Postgres's bigint (sequence numbers, xids). */
export function isInt64(value: string): boolean {
  return /^(0|[1-9][0-9]{0,18})$/.test(value) && BigInt(value) <= INT64_MAX
}

/** A decimal integer that fits Postgres's integer, for cursors over int columns (digest numbers). */
export function isInt32(value: string): boolean {
  return /^(0|[1-9][0-9]{0,9})$/.test(value) && Number(value) <= INT32_MAX
}

FormatRegistry.Set('cursor-timestamp', isTimestampInRange)
FormatRegistry.Set('cursor-uuid', (value) => UUID.test(value))
FormatRegistry.Set('cursor-int64', isInt64)
FormatRegistry.Set('cursor-int32', isInt32)

/** Members of cursor schemas, checked to what the database will accept. */
export const CursorField = {
  timestamp: (): TString => Type.String({ format: 'cursor-timestamp' }),
  uuid: (): TString => Type.String({ format: 'cursor-uuid' }),
  int64: (): TString => Type.String({ format: 'cursor-int64' }),
  int32: (): TString => Type.String({ format: 'cursor-int32' }),
}

export class InvalidCursorError extends BadRequestError {
  constructor(detail = 'The cursor is malformed or was not issued by this endpoint.') {
    super('INVALID_CURSOR', detail)
  }
}

export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

/** Returns null for anything that is not a cursor of this shape. */
export function decodeCursor<T extends TSchema>(cursor: string, schema: T): Static<T> | null {
  try {
    if (cursor.length > 2048 || !/^[A-Za-z0-9_-]*$/.test(cursor)) return null
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    return Value.Check(schema, value) ? value : null
  } catch {
    return null
  }
}

export interface ReadCursorOptions<T> {
  /** Checks the schema cannot express (the cursor belongs to this sort order, a key parses). */
  accept?: (value: T) => boolean
  /** The problem's detail, when the endpoint has a more telling one. */
  detail?: string
}

/** The decoded cursor, or an InvalidCursorError (400) for anything else. */
export function readCursor<T extends TSchema>(cursor: string, schema: T, options: ReadCursorOptions<Static<T>> = {}): Static<T> {
  const value = decodeCursor(cursor, schema)
  if (value === null || (options.accept && !options.accept(value))) throw new InvalidCursorError(options.detail)
  return value
}

export interface KeysetPage<Row> {
  rows: Row[]
  /** The cursor of the last row kept, or null when this is the last page. */
  nextCursor: string | null
}

/**
 * One page of a keyset-paged list: `fetch` is asked for one row more than `limit`, and that extra
 * row is how the page knows another follows; `cursorOf` names the position of the last row kept.
 */
export async function page<Row>(limit: number, fetch: (take: number) => Promise<Row[]>, cursorOf: (last: Row) => unknown): Promise<KeysetPage<Row>> {
  const rows = await fetch(limit + 1)
  const kept = rows.slice(0, limit)
  const last = kept.at(-1)
  return { rows: kept, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(cursorOf(last)) : null }
}
