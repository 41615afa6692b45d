// A data-subject request finds and redacts a person's address as a whole address, never inside a
// longer one, and Postgres (over a column's text, JSON included) agrees with JavaScript (over
// decoded strings) on every case.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { mentionBindings, mentionsEmail, mentionsSql, plausibleEmail, replaceEmailMentions } from '../src/index.ts'
import { createTestDatabase, type TestDatabase } from '../src/testing/index.ts'

const EMAIL = 'Ann.Lee+tix@Example.com'

/** [text, mentions EMAIL] */
const CASES: Array<[string, boolean]> = [
  ['ann.lee+tix@example.com', true],
  ['ANN.LEE+TIX@EXAMPLE.COM', true],
  ['Refund asked by ann.lee+tix@example.com.', true],
  ['to: <ann.lee+tix@example.com>, bob@example.com', true],
  ['"ann.lee+tix@example.com"', true],
  ['line one\nann.lee+tix@example.com', true],
  ['jo.ann.lee+tix@example.com', false],
  ['xann.lee+tix@example.com', false],
  ['ann.lee+tix@example.com.au', false],
  ['ann.lee+tix@example.community', false],
  ['ann.lee+tix@example.com-mail.net', false],
  ['ann.lee+tix@example', false],
  ['nothing here', false],
]

let db: TestDatabase
before(async () => {
  db = await createTestDatabase([])
})
after(async () => {
  await db.drop()
})

test('JavaScript finds the address only where it stands whole, in any case', () => {
  for (const [text, expected] of CASES) assert.equal(mentionsEmail(text, [EMAIL]), expected, text)
  assert.equal(mentionsEmail('ann.lee+tix@example.com', ['  ', '']), false, 'blank addresses mention nothing')
})

test('Postgres agrees, on plain text and on the text of JSON (escapes included)', async () => {
  const [emails, patterns] = mentionBindings([EMAIL])
  for (const [text, expected] of CASES) {
    const rows = await db.adminQuery<{ plain: boolean; json: boolean }>(`select ${mentionsSql('t.plain')} as plain, ${mentionsSql('t.json')} as json from (select ?::text as plain, jsonb_build_object('note', ?::text) as json) t`, [
      emails,
      patterns,
      emails,
      patterns,
      text,
      text,
    ])
    assert.deepEqual(rows[0], { plain: expected, json: expected }, text)
  }
})

test('redaction replaces each whole mention and leaves the longer addresses around it', () => {
  assert.equal(
    replaceEmailMentions('From ANN.LEE+TIX@example.com (cc jo.ann.lee+tix@example.com, ann.lee+tix@example.com.au); ann.lee+tix@example.com.', [EMAIL], '[redacted]'),
    'From [redacted] (cc jo.ann.lee+tix@example.com, ann.lee+tix@example.com.au); [redacted].',
  )
  // A replacement is literal text, `$&` included.
  assert.equal(replaceEmailMentions('x ann.lee+tix@example.com', [EMAIL], '$&'), 'x $&')
})

test('only address-shaped values count as emails read from provider data', () => {
  for (const value of ['@', 'a@', '@b', 'a b@c', 'a@b@c', '', 42, null]) assert.equal(plausibleEmail(value), false, String(value))
  for (const value of ['a@b', ' ann@example.com ', 'ANN@EXAMPLE.COM']) assert.equal(plausibleEmail(value), true, value)
})
