import { test } from 'node:test'
import assert from 'node:assert/strict'
import { maskEmail, maskIdentifier } from '../src/personal-data.ts'

// A lone surrogate is not valid Unicode: Postgres refuses it in jsonb (22P02), so a masked value
// must never cut a character outside the BMP in half.
const wellFormed = (value: string) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(value)

test('masking keeps whole characters, never half of a surrogate pair', () => {
  assert.equal(maskEmail('jane.doe@example.com'), 'j***@***.com')
  assert.equal(maskEmail('\u{1F600}x@example.com'), '\u{1F600}***@***.com')
  assert.equal(maskEmail('x@example.\u{1D54F}'), 'x***@***.\u{1D54F}')
  assert.equal(maskIdentifier('cus_NffrFeUfNV2Hib'), 'cus_…ib')
  assert.equal(maskIdentifier('cus_abcd\u{1F600}z'), 'cus_…\u{1F600}z')
  assert.equal(maskIdentifier('cus_ab\u{1F600}\u{1F600}'), 'cus_…', 'four characters after the prefix, not six code units, show nothing')
  assert.equal(maskIdentifier('cus_abcd\u{1F600}'), 'cus_…d\u{1F600}')
  for (const value of [maskEmail('\u{1F600}@x.io'), maskIdentifier('\u{1F600}'.repeat(9)), maskIdentifier('ab\u{1F600}')]) assert.ok(wellFormed(value), JSON.stringify(value))
})
