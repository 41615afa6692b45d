import { test } from 'node:test'
import assert from 'node:assert/strict'
import { peerTrusted, trustProxyOption, trustProxyProblems } from '../src/proxy-trust.ts'

test('TRUST_PROXY: unset trusts loopback outside production and nothing in production', () => {
  assert.deepEqual(trustProxyOption({ NODE_ENV: 'development' }), ['loopback'])
  assert.equal(trustProxyOption({ NODE_ENV: 'production' }), false)
  assert.equal(trustProxyOption({ NODE_ENV: 'production', TRUST_PROXY: ' None ' }), false)
  assert.equal(trustProxyOption({ TRUST_PROXY: '2' }), 2)
  assert.deepEqual(trustProxyOption({ TRUST_PROXY: '10.0.0.0/8, LOOPBACK' }), ['10.0.0.0/8', 'loopback'])
})

test('TRUST_PROXY problems name each bad entry and pass good ones', () => {
  assert.deepEqual(trustProxyProblems('loopback, 10.0.0.0/8, ::1, fc00::/7'), [])
  assert.deepEqual(trustProxyProblems('false'), [])
  const problems = trustProxyProblems('gateway, 10.0.0.0/33, ::1/129')
  assert.equal(problems.length, 3)
  assert.match(problems[0] ?? '', /"gateway"/)
  assert.match(problems[1] ?? '', /"10\.0\.0\.0\/33"/)
})

test('a peer is trusted only inside the configured ranges, IPv4-mapped addresses included', () => {
  assert.equal(peerTrusted(['loopback'], '127.0.0.1'), true)
  assert.equal(peerTrusted(['loopback'], '::ffff:127.0.0.1'), true)
  assert.equal(peerTrusted(['loopback'], '::1'), true)
  assert.equal(peerTrusted(['loopback'], '10.0.0.1'), false)
  assert.equal(peerTrusted(['uniquelocal'], '172.20.1.1'), true)
  assert.equal(peerTrusted(['uniquelocal'], '172.32.0.1'), false)
  assert.equal(peerTrusted(['192.0.2.7'], '192.0.2.7'), true)
  assert.equal(peerTrusted(['192.0.2.7'], '192.0.2.8'), false)
  assert.equal(peerTrusted(false, '127.0.0.1'), false)
  assert.equal(peerTrusted(1, '203.0.113.9'), true, 'a hop count trusts the direct peer')
  assert.equal(peerTrusted(0, '203.0.113.9'), false)
  assert.equal(peerTrusted(['loopback'], undefined), false)
})
