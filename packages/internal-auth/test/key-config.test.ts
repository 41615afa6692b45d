import { test } from 'node:test'
import assert from 'node:assert/strict'
import { compareKeyIds, InternalAuthConfigError, lookupSecret, newestKey, parseInternalAuthKeys } from '../src/index.ts'

const SECRET = 'sixteen-chars-ok!'

test('parses a valid INTERNAL_AUTH_KEYS value', () => {
  const keys = parseInternalAuthKeys(JSON.stringify({ 'compliance-service': { k1: SECRET, k2: `${SECRET}2` } }))
  assert.equal(lookupSecret(keys, 'compliance-service', 'k2'), `${SECRET}2`)
  assert.equal(lookupSecret(keys, 'compliance-service', 'k3'), undefined)
})

test('unset, non-JSON and non-object values are refused with a clear message', () => {
  assert.throws(() => parseInternalAuthKeys(undefined), /INTERNAL_AUTH_KEYS is invalid:\n- it is not set/)
  assert.throws(() => parseInternalAuthKeys('{nope'), /it is not valid JSON/)
  assert.throws(() => parseInternalAuthKeys('[]'), /must be a JSON object/)
  assert.throws(() => parseInternalAuthKeys('{}'), /it has no services/)
})

test('every problem is listed at once and no secret value appears in the message', () => {
  const json = JSON.stringify({
    'bad service': { k1: SECRET },
    'svc-a': { k1: 'short-secret' },
    'svc-b': 'not-an-object',
    'svc-c': {},
    'svc-d': { 'k\n1': SECRET, k2: 42 },
  })
  let error: unknown
  try {
    parseInternalAuthKeys(json)
  } catch (err) {
    error = err
  }
  assert.ok(error instanceof InternalAuthConfigError)
  assert.equal(error.problems.length, 6)
  assert.match(error.message, /service name "bad service"/)
  assert.match(error.message, /"svc-a"."k1": the secret must be at least 16 characters/)
  assert.match(error.message, /"svc-b" must be an object/)
  assert.match(error.message, /"svc-c" has no keys/)
  assert.match(error.message, /key id "k\\n1"/)
  assert.match(error.message, /"svc-d"."k2": the secret must be a string/)
  assert.doesNotMatch(error.message, /short-secret/)
})

test('inherited property names never resolve to a key', () => {
  const keys = parseInternalAuthKeys(JSON.stringify({ svc: { k1: SECRET } }))
  assert.equal(lookupSecret(keys, 'constructor', 'name'), undefined)
  assert.equal(lookupSecret(keys, '__proto__', 'toString'), undefined)
  assert.equal(lookupSecret(keys, 'svc', 'constructor'), undefined)
})

test('newestKey picks the highest key id in natural order (k2 > k1, k10 > k9)', () => {
  const keys = parseInternalAuthKeys(
    JSON.stringify({
      a: { k1: `${SECRET}1`, k2: `${SECRET}2` },
      b: { k10: `${SECRET}10`, k9: `${SECRET}9`, k2: `${SECRET}2` },
      c: { '2025-02': `${SECRET}feb`, '2025-01': `${SECRET}jan` },
    }),
  )
  assert.deepEqual(newestKey(keys, 'a'), { keyId: 'k2', secret: `${SECRET}2` })
  assert.deepEqual(newestKey(keys, 'b'), { keyId: 'k10', secret: `${SECRET}10` })
  assert.equal(newestKey(keys, 'c').keyId, '2025-02')
  assert.throws(() => newestKey(keys, 'missing'), /no key is configured for service "missing"/)
})

test('compareKeyIds is a deterministic total order', () => {
  const ids = ['k10', 'k2', 'k1', 'k9', 'k01', 'j5', 'k1a', 'k100']
  assert.deepEqual([...ids].sort(compareKeyIds), ['j5', 'k01', 'k1', 'k1a', 'k2', 'k9', 'k10', 'k100'])
  assert.deepEqual([...ids].reverse().sort(compareKeyIds), ['j5', 'k01', 'k1', 'k1a', 'k2', 'k9', 'k10', 'k100'])
  assert.equal(compareKeyIds('k1', 'k1'), 0)
})
