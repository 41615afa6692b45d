// The field-mapping transforms on their own: a value that does not convert is null, never an
// exception, because one odd value in a provider record must not fail the whole record.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { applyTransform, mapCustomFields } from '../../src/plugins/app/sync/field-mapping.ts'

test('date: Unix seconds, milliseconds and date strings come out as ISO 8601', () => {
  assert.equal(applyTransform(1_700_000_000, 'date'), '2023-11-14T22:13:20.000Z', 'seconds (Stripe)')
  assert.equal(applyTransform(1_700_000_000_000, 'date'), '2023-11-14T22:13:20.000Z', 'milliseconds')
  assert.equal(applyTransform('2026-01-02T03:04:05+01:00', 'date'), '2026-01-02T02:04:05.000Z')
  assert.equal(applyTransform(8.64e15, 'date'), '+275760-09-13T00:00:00.000Z', 'the last instant Date can hold')
})

test('date: a finite number outside the range of Date is null, not a RangeError', () => {
  for (const value of [1e17, 8.64e15 + 1, -8.64e15 - 1, -1e13, Number.MAX_VALUE, -Number.MAX_VALUE]) {
    assert.equal(applyTransform(value, 'date'), null, String(value))
  }
  for (const value of [Number.NaN, Number.POSITIVE_INFINITY, 'not a date', '']) assert.equal(applyTransform(value, 'date'), null, String(value))
})

test('a record with an out-of-range date still maps, the date null and its other fields intact', () => {
  const custom = mapCustomFields({ created: 1e17, email: 'Ann@Example.com' }, [
    { sourcePath: 'created', targetField: 'joinedAt', transform: 'date' },
    { sourcePath: 'email', targetField: 'contactEmail', transform: 'lowercase' },
  ])
  assert.deepEqual({ ...custom }, { joinedAt: null, contactEmail: 'ann@example.com' })
})
