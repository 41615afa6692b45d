// The gateway's upstream pool and a keep-alive socket the upstream has just closed (it restarted
// or is draining): an idempotent request without a body is sent again once on a fresh connection,
// so the client never sees the socket error; a POST is not repeated.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { after, test } from 'node:test'
import { bearer, testToken } from '@hub/service-kit/testing'
import { setupGateway } from './helpers.ts'

const { build } = await setupGateway()

/** An upstream that hangs up on the second request of every kept-alive socket, before answering it. */
async function hangUpOnReuse(): Promise<{ url: string; arrivals: string[] }> {
  const served = new WeakSet<Socket>()
  const arrivals: string[] = []
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    arrivals.push(`${request.method} ${request.url}`)
    if (served.has(request.socket)) {
      request.socket.destroy()
      return
    }
    served.add(request.socket)
    request.resume()
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive' })
      response.end(JSON.stringify({ ok: true }))
    })
  })
  server.keepAliveTimeout = 30_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  after(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const address = server.address() as { port: number }
  return { url: `http://127.0.0.1:${address.port}`, arrivals }
}

test('an idempotent request on a closed keep-alive socket is retried once on a new connection; a POST is not', async () => {
  const upstream = await hangUpOnReuse()
  const gateway = await build({ INTEGRATION_SERVICE_URL: upstream.url })
  const user = bearer(testToken({ tenantId: randomUUID(), roles: ['admin'], sub: `retry-${randomUUID()}` }))

  for (const method of ['GET', 'GET', 'DELETE', 'GET'] as const) {
    const response = await gateway.inject({ method, url: '/api/v1/integrations/connections', headers: user })
    assert.equal(response.statusCode, 200, `${method}: ${response.body}`)
  }
  assert.ok(upstream.arrivals.length > 4, `some requests met a closed socket and were sent again (${upstream.arrivals.length} arrivals for 4 requests)`)

  // Warm a socket, then POST on it: the POST may have reached a handler, so it is not repeated.
  assert.equal((await gateway.inject({ method: 'GET', url: '/api/v1/integrations/connections', headers: user })).statusCode, 200)
  const before = upstream.arrivals.length
  const post = await gateway.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: user })
  if (upstream.arrivals.length === before + 1 && post.statusCode !== 200) {
    assert.equal(post.statusCode, 503)
    assert.equal(post.json().code, 'UPSTREAM_UNAVAILABLE')
  }
  assert.equal(upstream.arrivals.slice(before).filter((arrival) => arrival.startsWith('POST')).length, 1, 'the POST was sent once')
})
