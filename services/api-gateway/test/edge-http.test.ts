// HTTP at the edge as real clients and attackers speak it: hop-by-hop headers both ways,
// absolute-form targets, requests without Host, a flood of health checks, callers that hang up
// mid-request, and paths that only look like webhook paths.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { createFastify } from '@hub/service-kit'
import { bearer, deleteRedisPrefix, listenLocal, rawRequest, testRedisPrefix, testServiceEnv, testToken } from '@hub/service-kit/testing'
import apiGateway, { SERVICE_NAME } from '../src/app.ts'
import { edgeServerOptions, loadConfig } from '../src/config.ts'

const prefix = testRedisPrefix()
const closers: Array<() => Promise<unknown>> = []
after(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined)
  await deleteRedisPrefix(prefix)
})

/** An upstream built like the real services (the kit's keep-alive of 10 s), counting what reaches it. */
async function upstream() {
  const app = createFastify({ service: 'edge-upstream', logLevel: 'silent' })
  // `open`: slow requests whose exchange with the gateway is still open (answered or cancelled closes it).
  const stats = { ready: 0, open: 0, maxOpen: 0, slowStarted: 0, cancelled: 0 }
  app.get('/ready', async () => {
    stats.ready++
    return { status: 'ready' }
  })
  app.get('/api/v1/integrations/slow', async (_request, reply) => {
    stats.slowStarted++
    stats.open++
    stats.maxOpen = Math.max(stats.maxOpen, stats.open)
    reply.raw.once('close', () => {
      stats.open--
      if (!reply.raw.writableFinished) stats.cancelled++
    })
    await sleep(1_500)
    return { late: true }
  })
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))
  app.all('/api/v1/*', async (request) => ({ url: request.url, length: Buffer.isBuffer(request.body) ? request.body.length : 0, headers: request.headers }))
  const url = await listenLocal(app)
  closers.push(() => app.close())
  return { url, stats }
}

async function gateway(upstreamUrl: string, extra: Record<string, string> = {}) {
  const config = loadConfig({ ...testServiceEnv(prefix), VENUE_SERVICE_URL: upstreamUrl, INTEGRATION_SERVICE_URL: upstreamUrl, COMPLIANCE_SERVICE_URL: upstreamUrl, ...extra })
  const app = createFastify({ service: SERVICE_NAME, logLevel: 'silent', ...edgeServerOptions(config) })
  await app.register(apiGateway, { config })
  await app.ready()
  closers.push(() => app.close())
  return listenLocal(app)
}

const admin = () => bearer(testToken({ tenantId: randomUUID(), roles: ['admin'], sub: `edge-${randomUUID()}` })).authorization

/** The status of the final answer in a raw exchange (after any interim 100 Continue). */
const finalStatus = (text: string): number => Number([...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].at(-1)?.[1] ?? 0)

test('hop-by-hop request headers (Expect, Keep-Alive, Upgrade, TE) are not forwarded: the request is proxied, not a 502', async () => {
  const up = await upstream()
  const base = await gateway(up.url)
  const body = '{"id":"evt_1"}'
  // curl before 8.2 and .NET's HttpClient send Expect: 100-continue on ordinary POSTs.
  const expect = await rawRequest(base, `POST /api/v1/integrations/webhooks/stripe/${randomUUID()} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
  assert.equal(finalStatus(expect.body) || expect.status, 200, expect.body)
  assert.match(expect.body, /"length":14/, 'the body reached the upstream whole')
  for (const header of ['Keep-Alive: timeout=5', 'Upgrade: h2c', 'TE: trailers', 'Proxy-Authorization: Basic eDp5', 'X-Gateway-Call: 1']) {
    const answer = await rawRequest(base, `GET /api/v1/integrations/things HTTP/1.1\r\nHost: x\r\nAuthorization: ${admin()}\r\n${header}\r\n\r\n`, 1_500)
    assert.equal(answer.status, 200, `${header}: ${answer.body}`)
    const forwarded = (JSON.parse(answer.body.slice(answer.body.indexOf('{'))) as { headers: Record<string, string> }).headers
    for (const name of ['keep-alive', 'upgrade', 'te', 'proxy-authorization', 'expect', 'x-gateway-call']) assert.equal(forwarded[name], undefined, `${name} is not forwarded`)
  }
})

test("the upstream's connection headers stay between gateway and upstream: the client sees the edge's keep-alive", async () => {
  const up = await upstream()
  const base = await gateway(up.url, { EDGE_KEEP_ALIVE_TIMEOUT_MS: '1000' })
  const { hostname, port } = new URL(base)
  const socket = net.connect(Number(port), hostname)
  let text = ''
  socket.on('data', (chunk) => (text += chunk.toString()))
  await new Promise((resolve) => socket.once('connect', resolve))
  socket.write(`GET /api/v1/integrations/things HTTP/1.1\r\nHost: x\r\nAuthorization: ${admin()}\r\n\r\n`)
  await sleep(500)
  socket.destroy()
  assert.match(text, /^HTTP\/1\.1 200/)
  // The upstream (the kit's 10 s) would advertise timeout=10; the edge keeps idle sockets 1 s.
  assert.equal(/keep-alive: timeout=(\d+)/i.exec(text)?.[1], '1', text.split('\r\n\r\n')[0])
})

test('an absolute-form request target is refused before its body is read, so it cannot slip past the in-flight cap', async () => {
  const up = await upstream()
  const base = await gateway(up.url, { MAX_IN_FLIGHT_PER_CLIENT: '4', EDGE_REQUEST_TIMEOUT_MS: '4000', RATE_LIMIT_ANONYMOUS_MAX: '1000' })
  const slow = (target: string) => `POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":`
  const answers = await Promise.all(Array.from({ length: 12 }, () => rawRequest(base, slow(`http://gw/api/v1/integrations/webhooks/stripe/${randomUUID()}`), 1_500)))
  assert.deepEqual(
    answers.map((answer) => answer.status),
    Array.from({ length: 12 }, () => 400),
  )
  assert.match(answers[0]?.body ?? '', /BAD_REQUEST_TARGET/)
  assert.match(answers[0]?.headers['content-type'] ?? '', /application\/problem\+json/)
})

test('a request without Host gets a problem+json 400, not a bare one', async () => {
  const up = await upstream()
  const base = await gateway(up.url)
  const answer = await rawRequest(base, 'GET /api/v1/venues HTTP/1.1\r\n\r\n')
  assert.equal(answer.status, 400)
  assert.match(answer.headers['content-type'] ?? '', /application\/problem\+json/)
  assert.match(answer.body, /MISSING_HOST/)
})

test('a flood of anonymous /health calls costs the upstreams one readiness check at a time, not three per call', async () => {
  const up = await upstream()
  const base = await gateway(up.url, { RATE_LIMIT_ANONYMOUS_MAX: '5' })
  const before = up.stats.ready
  const answers = await Promise.all(Array.from({ length: 50 }, () => fetch(`${base}/health`).then(async (response) => ({ status: response.status, body: (await response.json()) as { upstreams?: Record<string, { status: string }> } }))))
  assert.ok(
    answers.every((answer) => answer.status === 200 && answer.body.upstreams?.['venue-service']?.status === 'up'),
    JSON.stringify(answers[0]),
  )
  // One check of the three upstreams (a second if the first ended inside the burst).
  assert.ok(up.stats.ready - before <= 6, `${up.stats.ready - before} readiness calls`)
  await sleep(1_100)
  await (await fetch(`${base}/health`)).arrayBuffer()
  assert.ok(up.stats.ready - before >= 6, 'a second later the answer is fresh again')
})

test("a caller who hangs up cancels its upstream request: the in-flight cap bounds the upstream's work too", async () => {
  const up = await upstream()
  const base = await gateway(up.url, { MAX_IN_FLIGHT_PER_CLIENT: '4', RATE_LIMIT_USER_MAX: '1000' })
  const token = admin()
  for (let round = 0; round < 4; round++) {
    const calls = Array.from({ length: 4 }, () => {
      const controller = new AbortController()
      return { controller, done: fetch(`${base}/api/v1/integrations/slow`, { headers: { authorization: token }, signal: controller.signal }).catch(() => null) }
    })
    await sleep(150)
    for (const call of calls) call.controller.abort()
    await Promise.all(calls.map((call) => call.done))
    await sleep(50)
  }
  assert.equal(up.stats.slowStarted, 16)
  await sleep(200)
  assert.equal(up.stats.cancelled, 16, 'every upstream request was cancelled when its caller left')
  // Rounds overlap by at most the time a cancellation takes to arrive.
  assert.ok(up.stats.maxOpen <= 8, `one caller with a cap of 4 kept ${up.stats.maxOpen} upstream requests open`)
})

test('only the webhook routes get the webhook budget: a path that merely lower-cases to one is an ordinary anonymous call', async () => {
  const up = await upstream()
  const base = await gateway(up.url, { RATE_LIMIT_ANONYMOUS_MAX: '3' })
  const statuses: number[] = []
  for (let i = 0; i < 6; i++) {
    const response = await fetch(`${base}/api/v1/integrations/WEBHOOKS/x`, { headers: { authorization: 'Bearer bad.token.here' } })
    statuses.push(response.status)
    await response.arrayBuffer()
  }
  assert.deepEqual(statuses, [401, 401, 401, 429, 429, 429])
})
