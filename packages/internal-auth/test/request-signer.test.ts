import { test } from 'node:test'
import assert from 'node:assert/strict'
import { bodySha256, canonicalString, signRequest, verifySignature } from '../src/index.ts'

// The reference vectors of architecture.md §3; any implementation must reproduce them.
const VECTOR_1 = {
  service: 'compliance-service',
  keyId: 'k1',
  secret: 'test-secret-do-not-use-in-production',
  method: 'GET',
  pathWithQuery: '/internal/sync-logs/venue/4f1c2a9e-0000-4000-8000-000000000001?limit=100',
  body: undefined,
  timestamp: 1767225600,
  nonce: '00112233445566778899aabbccddeeff',
  signature: 'v1=6df70643a53845102f972ccc4a94ee5cc530bd08967c57ca7e710bf70ea55f12',
}
const VECTOR_2 = {
  service: 'integration-service',
  keyId: 'k2',
  secret: 'another-test-secret',
  method: 'POST',
  pathWithQuery: '/internal/audit-events',
  body: '{"events":[]}',
  timestamp: 1767225600,
  nonce: 'ffeeddccbbaa99887766554433221100',
  signature: 'v1=f2449681b16cd7f0128ba6ea19573180c8b977e16093f72ae5f4511065fef305',
}

test('reference vector 1 (GET, empty body) reproduces the published signature', () => {
  const { signature, ...input } = VECTOR_1
  const headers = signRequest(input)
  assert.equal(headers['x-internal-signature'], signature)
  assert.deepEqual(headers, {
    'x-internal-service': 'compliance-service',
    'x-internal-key-id': 'k1',
    'x-internal-timestamp': '1767225600',
    'x-internal-nonce': '00112233445566778899aabbccddeeff',
    'x-internal-signature': signature,
  })
})

test('reference vector 2 (POST with JSON body) reproduces the published signature', () => {
  const { signature, ...input } = VECTOR_2
  assert.equal(signRequest(input)['x-internal-signature'], signature)
  // The same bytes as a Buffer sign identically: the hash is over bytes, not a JS string.
  assert.equal(signRequest({ ...input, body: Buffer.from(input.body) })['x-internal-signature'], signature)
})

test('canonical string is the seven v1 lines joined by \\n with the method upper-cased', () => {
  const canonical = canonicalString({
    service: 'svc',
    method: 'post',
    pathWithQuery: '/a?b=1',
    timestamp: 42,
    nonce: 'n',
    bodySha256: bodySha256('x'),
  })
  assert.equal(canonical, ['v1', 'svc', 'POST', '/a?b=1', '42', 'n', bodySha256('x')].join('\n'))
  assert.equal(bodySha256(undefined), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  assert.equal(bodySha256(''), bodySha256(undefined))
})

test('signRequest defaults to the current time and a fresh 16-byte hex nonce', () => {
  const before = Math.floor(Date.now() / 1000)
  const a = signRequest({ service: 's', keyId: 'k1', secret: 'x'.repeat(16), method: 'GET', pathWithQuery: '/' })
  const b = signRequest({ service: 's', keyId: 'k1', secret: 'x'.repeat(16), method: 'GET', pathWithQuery: '/' })
  assert.match(a['x-internal-nonce'], /^[0-9a-f]{32}$/)
  assert.notEqual(a['x-internal-nonce'], b['x-internal-nonce'])
  const ts = Number(a['x-internal-timestamp'])
  assert.ok(ts >= before && ts <= Math.floor(Date.now() / 1000))
  assert.match(a['x-internal-signature'], /^v1=[0-9a-f]{64}$/)
})

test('verifySignature accepts the vector and refuses any changed part, wrong case or wrong length', () => {
  const parts = {
    secret: VECTOR_1.secret,
    service: VECTOR_1.service,
    method: VECTOR_1.method,
    pathWithQuery: VECTOR_1.pathWithQuery,
    timestamp: VECTOR_1.timestamp,
    nonce: VECTOR_1.nonce,
    bodySha256: bodySha256(undefined),
    signature: VECTOR_1.signature,
  }
  assert.equal(verifySignature(parts), true)
  assert.equal(verifySignature({ ...parts, secret: 'another-test-secret' }), false)
  assert.equal(verifySignature({ ...parts, service: 'integration-service' }), false)
  assert.equal(verifySignature({ ...parts, method: 'DELETE' }), false)
  assert.equal(verifySignature({ ...parts, pathWithQuery: `${parts.pathWithQuery}1` }), false)
  assert.equal(verifySignature({ ...parts, timestamp: parts.timestamp + 1 }), false)
  assert.equal(verifySignature({ ...parts, nonce: VECTOR_2.nonce }), false)
  assert.equal(verifySignature({ ...parts, bodySha256: bodySha256('{}') }), false)
  assert.equal(verifySignature({ ...parts, signature: parts.signature.toUpperCase().replace('V1', 'v1') }), false)
  assert.equal(verifySignature({ ...parts, signature: parts.signature.slice(0, -2) }), false)
  assert.equal(verifySignature({ ...parts, signature: `${parts.signature}00` }), false)
  assert.equal(verifySignature({ ...parts, signature: 'v1=' }), false)
})
