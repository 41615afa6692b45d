import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Type } from '@sinclair/typebox'
import { CursorField, InvalidCursorError, decodeCursor, encodeCursor, isDateTimeInRange, isInt64, isTimestampInRange, page, readCursor } from '../src/cursor.ts'

const Position = Type.Object({ at: CursorField.timestamp(), id: CursorField.uuid(), seq: CursorField.int64() })
const good = { at: '2026-01-02T03:04:05.123Z', id: '0b6c4f6e-2f6a-4f5e-9a1b-3c2d1e0f9a8b', seq: '42' }

test('a cursor decodes to what was encoded, and only to a value of its schema', () => {
  assert.deepEqual(decodeCursor(encodeCursor(good), Position), good)
  assert.equal(decodeCursor(encodeCursor({ ...good, id: 'not-a-uuid' }), Position), null)
  assert.equal(decodeCursor(encodeCursor({ ...good, seq: '9223372036854775808' }), Position), null, 'one past bigint')
  assert.equal(decodeCursor(encodeCursor({ ...good, at: '2026-02-30T00:00:00Z' }), Position), null, 'no 30 February')
  assert.equal(decodeCursor(encodeCursor([good]), Position), null)
})

test('anything that is not base64url JSON, or is too long, decodes to null rather than throwing', () => {
  assert.equal(decodeCursor('!!!', Position), null)
  assert.equal(decodeCursor(Buffer.from('{not json').toString('base64url'), Position), null)
  assert.equal(decodeCursor('A'.repeat(2049), Position), null)
  assert.equal(decodeCursor('', Position), null)
})

test('readCursor answers 400 INVALID_CURSOR for a bad cursor, and for one its accept check refuses', () => {
  assert.deepEqual(readCursor(encodeCursor(good), Position), good)
  assert.throws(
    () => readCursor('garbage', Position),
    (error: unknown) => error instanceof InvalidCursorError && error.statusCode === 400 && error.code === 'INVALID_CURSOR',
  )
  const Sorted = Type.Object({ s: Type.String(), k: Type.String() })
  const cursor = encodeCursor({ s: 'name', k: 'Aurora' })
  assert.deepEqual(readCursor(cursor, Sorted, { accept: (value) => value.s === 'name' }), { s: 'name', k: 'Aurora' })
  assert.throws(
    () => readCursor(cursor, Sorted, { accept: (value) => value.s === '-created_at', detail: 'The cursor belongs to another sort order.' }),
    (error: unknown) => error instanceof InvalidCursorError && error.message === 'The cursor belongs to another sort order.',
  )
})

test('timestamps: zones required, Postgres text accepted, impossible dates and years out of range refused', () => {
  assert.ok(isTimestampInRange('2024-02-29T23:59:59Z'), 'leap day')
  assert.ok(isTimestampInRange('2026-01-02 03:04:05.123456+00'), "Postgres's own text")
  assert.ok(!isTimestampInRange('2023-02-29T00:00:00Z'), 'not a leap year')
  assert.ok(!isTimestampInRange('1900-02-29T00:00:00Z'), 'centuries are not leap years')
  assert.ok(isTimestampInRange('2000-02-29T00:00:00Z'), 'but every fourth century is')
  assert.ok(!isTimestampInRange('2026-01-02T03:04:05'), 'no zone')
  assert.ok(!isTimestampInRange('0000-01-01T00:00:00Z'))
  assert.ok(!isTimestampInRange('2026-13-01T00:00:00Z'))
  assert.ok(!isTimestampInRange('2026-01-01T24:00:00Z'))
  assert.ok(isDateTimeInRange('9999-12-31T23:59:59.999999999Z'), 'RFC 3339 allows nanoseconds')
  assert.ok(!isDateTimeInRange('2026-01-02 03:04:05Z'), 'RFC 3339 needs the T')
  assert.ok(!isDateTimeInRange('0000-01-01T00:00:00Z'))
})

test('int64: decimal, no leading zeros, within bigint', () => {
  assert.ok(isInt64('0'))
  assert.ok(isInt64('9223372036854775807'))
  assert.ok(!isInt64('9223372036854775808'))
  assert.ok(!isInt64('007'))
  assert.ok(!isInt64('-1'))
  assert.ok(!isInt64('1e3'))
})

test('page: asks for one row more than the limit, keeps the limit, and gives the cursor of the last kept row only when more follow', async () => {
  const rows = [{ id: 1 }, { id: 2 }, { id: 3 }]
  const asked: number[] = []
  const store = async (take: number) => {
    asked.push(take)
    return rows.slice(0, take)
  }
  const first = await page(2, store, (last) => ({ id: last.id }))
  assert.deepEqual(first.rows, [{ id: 1 }, { id: 2 }])
  assert.deepEqual(JSON.parse(Buffer.from(first.nextCursor ?? '', 'base64url').toString('utf8')), { id: 2 })
  assert.deepEqual(await page(3, store, (last) => last.id), { rows, nextCursor: null }, 'exactly the limit left: no next page')
  assert.deepEqual(
    await page(
      5,
      async () => [],
      (last) => last,
    ),
    { rows: [], nextCursor: null },
  )
  assert.deepEqual(asked, [3, 4])
})
