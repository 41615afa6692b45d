import { test } from 'node:test'
import assert from 'node:assert/strict'
import { constantTimeEqual, randomToken } from '../src/index.ts'

test('constantTimeEqual is true for equal strings and buffers', () => {
  assert.equal(constantTimeEqual('v1=abcdef', 'v1=abcdef'), true)
  assert.equal(constantTimeEqual('', ''), true)
  assert.equal(constantTimeEqual(Buffer.from([1, 2, 3]), Buffer.from([1, 2, 3])), true)
  assert.equal(constantTimeEqual('clé', Buffer.from('clé', 'utf8')), true)
})

test('constantTimeEqual is false when the contents differ', () => {
  assert.equal(constantTimeEqual('v1=abcdef', 'v1=abcdeg'), false)
  assert.equal(constantTimeEqual('Xbcdef', 'abcdef'), false)
  assert.equal(constantTimeEqual('abc', 'ABC'), false)
  assert.equal(constantTimeEqual(Buffer.from([0]), Buffer.from([1])), false)
})

test('constantTimeEqual is false for different lengths, including a prefix and the empty value', () => {
  assert.equal(constantTimeEqual('abc', 'abcd'), false)
  assert.equal(constantTimeEqual('abcd', 'abc'), false)
  assert.equal(constantTimeEqual('', 'a'), false)
  assert.equal(constantTimeEqual(Buffer.alloc(0), Buffer.alloc(1)), false)
  assert.equal(constantTimeEqual('a'.repeat(1000), 'a'.repeat(1001)), false)
})

test('constantTimeEqual compares bytes, so text that encodes differently is not equal', () => {
  // "é" precomposed vs "e" + combining accent: look the same, different bytes.
  assert.equal(constantTimeEqual('\u00e9', 'e\u0301'), false)
})

test('constantTimeEqual rejects values that are neither strings nor buffers', () => {
  assert.throws(() => constantTimeEqual(undefined as unknown as string, 'a'), TypeError)
})

test('randomToken returns 32 random bytes as base64url by default', () => {
  const token = randomToken()
  assert.match(token, /^[A-Za-z0-9_-]{43}$/)
  assert.equal(Buffer.from(token, 'base64url').length, 32)
})

test('randomToken honours the byte count and never repeats', () => {
  assert.equal(Buffer.from(randomToken(16), 'base64url').length, 16)
  assert.equal(Buffer.from(randomToken(64), 'base64url').length, 64)
  const tokens = new Set(Array.from({ length: 1000 }, () => randomToken()))
  assert.equal(tokens.size, 1000)
})

test('randomToken refuses sizes too small to be a secret', () => {
  assert.throws(() => randomToken(8), RangeError)
  assert.throws(() => randomToken(0), RangeError)
  assert.throws(() => randomToken(16.5), RangeError)
})
