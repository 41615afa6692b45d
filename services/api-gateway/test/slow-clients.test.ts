// Slow and oversized clients against a listening gateway, over real sockets: counts and deadlines
// are kept small so the file stays bounded in time.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createHash } from 'node:crypto'
import { bearer, eventually, listenLocal, rawRequest, testToken } from '@hub/service-kit/testing'
import { setupGateway } from './helpers.ts'

const { build } = await setupGateway()
const tenant = randomUUID()
const tokenOf = (sub: string) => bearer(testToken({ tenantId: tenant, roles: ['admin'], sub })).authorization

async function listening(extra: Record<string, string> = {}) {
  const gateway = await build({ EDGE_HEADERS_TIMEOUT_MS: '1000', EDGE_REQUEST_TIMEOUT_MS: '2500', MAX_IN_FLIGHT_PER_CLIENT: '8', RATE_LIMIT_USER_MAX: '1000', RATE_LIMIT_SENSITIVE_MAX: '1000', ...extra })
  return listenLocal(gateway)
}

// Announces 100 bytes, sends 10, then goes quiet.
const slowBody = (authorization: string) => `POST /api/v1/integrations/connections HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":"0123`

/** Once its slow connections are gone (the server sees the close a moment later), the user is served again. */
async function servedAgain(base: string, authorization: string): Promise<void> {
  await eventually(
    'the slow user served again',
    async () => {
      const response = await fetch(`${base}/api/v1/venues`, { headers: { authorization } })
      await response.arrayBuffer()
      return response.status
    },
    (status) => status === 200,
  )
}

test('30 slow-body connections from one user: the excess is refused at once, another user is served while the rest are held, and the slots come back when they hang up', async () => {
  // Request and idle deadlines far past the test: the admitted ones stay held however slow the
  // box is, so "served meanwhile" never depends on the other user beating a clock.
  const base = await listening({ EDGE_REQUEST_TIMEOUT_MS: '600000', EDGE_IDLE_TIMEOUT_MS: '600000' })
  const slowUser = tokenOf(`slow-${randomUUID()}`)
  const hangUp = new AbortController()
  let answered = 0
  const slow = Array.from({ length: 30 }, () =>
    rawRequest(base, slowBody(slowUser), 600_000, hangUp.signal).then((response) => {
      answered++
      return response
    }),
  )
  await eventually(
    'the excess refused',
    async () => answered,
    (count) => count >= 22,
  )
  const other = { authorization: tokenOf(`other-${randomUUID()}`) }
  const served: number[] = []
  for (let i = 0; i < 5; i++) {
    const response = await fetch(`${base}/api/v1/venues`, { headers: other })
    served.push(response.status)
    await response.arrayBuffer()
  }
  assert.deepEqual(served, [200, 200, 200, 200, 200])
  const held = await fetch(`${base}/api/v1/venues`, { headers: { authorization: slowUser } })
  assert.equal(held.status, 429, 'the slow user is still at its cap')
  await held.arrayBuffer()
  assert.equal(answered, 22, 'the admitted ones are still held while the other user is served')

  hangUp.abort()
  const results = await Promise.all(slow)
  const refused = results.filter((response) => response.status === 429)
  assert.equal(refused.length, 22, 'all but MAX_IN_FLIGHT_PER_CLIENT are refused')
  for (const response of refused) assert.equal(JSON.parse(response.body).code, 'TOO_MANY_IN_FLIGHT')
  assert.equal(results.filter((response) => response.status === 0).length, 8, 'the admitted ones had no answer')
  await servedAgain(base, slowUser)
})

test('slow bodies are cut at the request deadline with 408 problem+json and a closed connection, and their slots come back', async () => {
  const base = await listening()
  const slowUser = tokenOf(`slow-${randomUUID()}`)
  const started = Date.now()
  // As many as the cap admits; each resolves when the gateway hangs up (the wait is only a backstop).
  const cut = await Promise.all(Array.from({ length: 8 }, () => rawRequest(base, slowBody(slowUser), 120_000).then((response) => ({ response, at: Date.now() - started }))))
  for (const { response, at } of cut) {
    assert.equal(response.status, 408, response.body)
    assert.equal(JSON.parse(response.body).code, 'REQUEST_TIMEOUT')
    assert.ok(response.closed)
    // A lower bound only (a slow box makes it later, never earlier); 50 ms for clock granularity.
    assert.ok(at >= 2_450, `not cut before the 2.5 s deadline (${at} ms)`)
  }
  await servedAgain(base, slowUser)
})

test('a slowloris connection that never finishes its headers is closed after the header deadline', async () => {
  const base = await listening()
  const response = await rawRequest(base, 'GET /api/v1/venues HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n', 8_000)
  assert.ok(response.closed, 'the server hung up')
  assert.equal(response.status, 408)
  assert.match(response.headers['content-type'] ?? '', /problem\+json/)
})

test('an oversized chunked body gets 413 problem+json and a closed connection; a chunked body within the limit is forwarded byte for byte', async () => {
  const base = await listening({ BODY_LIMIT_BYTES: '4096' })
  const admin = tokenOf('chunked')
  const chunk = 'a'.repeat(3000)
  const tooLarge = await rawRequest(
    base,
    `POST /api/v1/integrations/connections HTTP/1.1\r\nHost: x\r\nAuthorization: ${admin}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n`,
  )
  assert.equal(tooLarge.status, 413, tooLarge.body)
  assert.equal(JSON.parse(tooLarge.body).code, 'PAYLOAD_TOO_LARGE')
  assert.ok(tooLarge.closed, 'the connection is closed')
  const declared = await rawRequest(base, `POST /api/v1/integrations/webhooks/stripe/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"a":`)
  assert.equal(declared.status, 413)
  assert.ok(declared.closed)
  const small = '{"id":"evt_1",  "x":"\u00e9"}'
  const hex = Buffer.byteLength(small).toString(16)
  const ok = await rawRequest(base, `POST /api/v1/integrations/webhooks/stripe/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${hex}\r\n${small}\r\n0\r\n\r\n`)
  assert.equal(ok.status, 200, ok.body)
  assert.equal(JSON.parse(ok.body).sha256, createHash('sha256').update(small).digest('hex'))
})

test('the gateway renders bad percent-encoding and oversized headers as problem+json', async () => {
  const base = await listening()
  for (const [request, status, code] of [
    ['GET /api/v1/venues/%zz HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'BAD_URL'],
    [`GET /api/v1/venues/x HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
  ] as const) {
    const response = await rawRequest(base, request)
    assert.equal(response.status, status, response.body)
    assert.match(response.headers['content-type'] ?? '', /problem\+json/)
    assert.equal(JSON.parse(response.body).code, code)
    assert.ok(!response.body.includes('%zz'))
  }
})
