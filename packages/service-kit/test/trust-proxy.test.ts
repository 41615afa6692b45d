import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createFastify, parseTrustProxy } from '../src/index.ts'

async function clientIp(trustProxy: string): Promise<string> {
  const app = createFastify({ service: 'trust-proxy-test', logLevel: 'silent', trustProxy })
  app.get('/ip', async (request) => ({ ip: request.ip }))
  try {
    // inject connects from 127.0.0.1; the header claims a client and one proxy before us.
    const response = await app.inject({ method: 'GET', url: '/ip', headers: { 'x-forwarded-for': '203.0.113.9, 198.51.100.1' } })
    return (response.json() as { ip: string }).ip
  } finally {
    await app.close()
  }
}

test('TRUST_PROXY takes a boolean or the proxies\' CIDRs, and refuses a hop count Fastify would ignore', async () => {
  assert.deepEqual(['false', 'true', ' 10.0.0.0/8 , 127.0.0.1/32 ', ''].map(parseTrustProxy), [false, true, '10.0.0.0/8,127.0.0.1/32', false])
  assert.throws(() => parseTrustProxy('1'), /hop count/)
  assert.equal(await clientIp('false'), '127.0.0.1')
  // Only the listed proxy is believed: the address it saw, not what the client wrote before it.
  assert.equal(await clientIp('127.0.0.1/32'), '198.51.100.1')
  assert.equal(await clientIp('10.0.0.0/8'), '127.0.0.1')
  assert.equal(await clientIp('true'), '203.0.113.9')
})
