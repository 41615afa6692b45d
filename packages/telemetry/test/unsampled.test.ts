import assert from 'node:assert/strict'
import type * as Http from 'node:http'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { after, before, beforeEach, test } from 'node:test'
import { context, SpanKind, SpanStatusCode, trace, type ProxyTracerProvider, type Span } from '@opentelemetry/api'
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace'
import { startTelemetry } from '../src/sdk.ts'

// A service (not the edge) at 0 %: a request is sampled exactly when its caller's traceparent says so.
const exporter = new InMemorySpanExporter()
const telemetry = startTelemetry({ serviceName: 'unsampled-test', exporter, env: { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' } })

// Every span any instrumentation starts, recorded or not, goes through the SDK tracer's startSpan.
const started: string[] = []
const sdkTracer = (trace.getTracerProvider() as ProxyTracerProvider).getDelegate().getTracer('unsampled-test')
const tracerPrototype = Object.getPrototypeOf(sdkTracer) as { startSpan: (this: unknown, ...args: unknown[]) => Span }
const startSpan = tracerPrototype.startSpan
tracerPrototype.startSpan = function countedStartSpan(this: unknown, ...args: unknown[]) {
  started.push(String(args[0]))
  return startSpan.apply(this, args)
}

// Required after the SDK started, as a service requires them, so the instrumentations patched them
// (this package does not depend on pg or ioredis: they resolve from the service kit, which does).
const http = createRequire(import.meta.url)('node:http') as typeof Http
const kitRequire = createRequire(new URL('../../service-kit/package.json', import.meta.url))
const { Pool } = kitRequire('pg') as { Pool: new (config: { connectionString: string; max: number }) => { query<R>(text: string): Promise<{ rows: R[] }>; end(): Promise<void> } }
const Redis = kitRequire('ioredis') as new (url: string, options: { lazyConnect: boolean; maxRetriesPerRequest: number }) => { connect(): Promise<void>; ping(): Promise<string>; disconnect(): void }

const pool = new Pool({ connectionString: process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', max: 1 })
const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 })

/** What the downstream service received: `/health` is never traced, so it only records the header. */
const received: (string | undefined)[] = []
const downstream = http.createServer((req, res) => {
  received.push(req.headers.traceparent as string | undefined)
  res.writeHead(200).end('ok')
})

// One request's work: a statement, a Redis command, a hop downstream; it answers the trace it ran in.
async function work(req: Http.IncomingMessage, res: Http.ServerResponse): Promise<void> {
  const { rows } = await pool.query<{ one: number }>('SELECT 1 AS one')
  const pong = await redis.ping()
  const hop = await fetch(`${base(downstream)}/health`)
  await hop.text()
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ one: rows[0]?.one, pong, traceId: trace.getActiveSpan()?.spanContext().traceId, patched: listenerMethodsPatched(req, res) }))
}

/** Whether the request's or the response's listener methods were replaced on the object itself (as binding an emitter to a context does). */
const listenerMethodsPatched = (req: Http.IncomingMessage, res: Http.ServerResponse) => ['on', 'once', 'addListener', 'removeListener'].some((name) => Object.hasOwn(req, name) || Object.hasOwn(res, name))

const hanging: Http.ServerResponse[] = []

// A body is read as Fastify reads it: the work starts from the request's `end` listener.
const service = http.createServer((req, res) => {
  if (req.url?.startsWith('/fail')) return void res.writeHead(503).end()
  if (req.url?.startsWith('/hang')) return void hanging.push(res) // answered never: its client hangs up
  const start = () => void work(req, res).catch(() => res.writeHead(500).end())
  if (req.method === 'POST') req.on('end', start).resume()
  else start()
})

const base = (server: Http.Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`
const hex = (bytes: number) => randomBytes(bytes).toString('hex')

before(async () => {
  await Promise.all([service, downstream].map((server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))))
  // Connections opened outside any request, as a service's pools are warm.
  await pool.query('SELECT 1')
  await redis.connect()
})

after(async () => {
  tracerPrototype.startSpan = startSpan
  await Promise.all([service, downstream].map((server) => new Promise((resolve) => server.close(resolve))))
  await pool.end()
  redis.disconnect()
  await telemetry.shutdown()
  context.disable()
})

beforeEach(() => {
  started.length = 0
  received.length = 0
  exporter.reset()
})

async function call(traceparent?: string, body?: string): Promise<{ one: number; pong: string; traceId?: string; patched: boolean }> {
  const response = await fetch(`${base(service)}/work?token=secret-value`, { ...(traceparent ? { headers: { traceparent } } : {}), ...(body !== undefined ? { method: 'POST', body } : {}) })
  assert.equal(response.status, 200)
  return (await response.json()) as { one: number; pong: string; traceId?: string; patched: boolean }
}

test('a request its caller did not sample starts no span anywhere: no server, pg, ioredis or undici span, only the traceparent passed on', async () => {
  const traceId = hex(16)
  const callerSpan = hex(8)
  const answer = await call(`00-${traceId}-${callerSpan}-00`)
  assert.deepEqual([answer.one, answer.pong], [1, 'PONG'], 'the statement and the command ran')
  assert.equal(answer.traceId, traceId, "the handler ran in the caller's trace")
  assert.deepEqual(started, [], 'no span was started, not even a non-recording one')
  const [hop] = received
  assert.match(hop ?? '', new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`), 'the hop carries the trace and the decision not to sample')
  assert.notEqual(hop?.split('-')[2], callerSpan, "under this service's own (unrecorded) span, not the caller's")
  await telemetry.forceFlush()
  assert.equal(exporter.getFinishedSpans().length, 0)
})

test('an unsampled request with a body stays in its trace in the listeners that read the body', async () => {
  const traceId = hex(16)
  const answer = await call(`00-${traceId}-${hex(8)}-00`, JSON.stringify({ name: 'x'.repeat(10_000) }))
  assert.equal(answer.traceId, traceId, "the work started from the body's end listener ran in the caller's trace")
  assert.match(received[0] ?? '', new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`))
  assert.deepEqual(started, [])
})

test('a request without trace context that the sampler drops starts a trace of its own, unsampled, and passes it on', async () => {
  const answer = await call()
  assert.match(answer.traceId ?? '', /^[0-9a-f]{32}$/)
  assert.deepEqual(started, [])
  assert.match(received[0] ?? '', new RegExp(`^00-${answer.traceId}-[0-9a-f]{16}-00$`))
})

test('a sampled request records its server span and a span per pg statement, ioredis command and undici request', async () => {
  const traceId = hex(16)
  const callerSpan = hex(8)
  const answer = await call(`00-${traceId}-${callerSpan}-01`)
  assert.equal(answer.traceId, traceId)
  await telemetry.forceFlush()
  const spans = exporter.getFinishedSpans()
  const server = spans.find((span) => span.kind === SpanKind.SERVER)
  assert.ok(server, 'the server span')
  assert.equal(server.parentSpanContext?.spanId, callerSpan)
  const children = (test: (attributes: Record<string, unknown>) => boolean) =>
    spans.filter((span) => span.kind === SpanKind.CLIENT && span.spanContext().traceId === traceId && span.parentSpanContext?.spanId === server.spanContext().spanId && test(span.attributes))
  assert.equal(children((attributes) => attributes['db.system.name'] === 'postgresql').length, 1, 'one pg span')
  assert.equal(children((attributes) => attributes['db.system.name'] === 'redis' && attributes['db.query.text'] === 'ping').length, 1, 'one ioredis span')
  const [hop] = children((attributes) => attributes['http.request.method'] === 'GET')
  assert.ok(hop, 'one undici span')
  assert.equal(received[0], `00-${traceId}-${hop.spanContext().spanId}-01`, 'the hop carries the undici span, sampled')
  assert.ok(started.length >= 4, `spans started: ${started.join(', ')}`)
  assert.equal(server.name, 'GET')
  assert.deepEqual(
    { ...server.attributes },
    { 'http.request.method': 'GET', 'url.path': '/work', 'url.scheme': 'http', 'network.protocol.version': '1.1', 'http.response.status_code': 200 },
    'what the conventions require of a server span, the query string cut',
  )
  assert.equal(server.status.code, SpanStatusCode.UNSET)
  assert.equal(answer.patched, false, "the request's and the response's listener methods are their prototype's")
})

test('a sampled request answered 5xx ends its server span as an error, with the status as its type', async () => {
  const traceId = hex(16)
  const response = await fetch(`${base(service)}/fail`, { headers: { traceparent: `00-${traceId}-${hex(8)}-01` } })
  assert.equal(response.status, 503)
  await response.arrayBuffer()
  await telemetry.forceFlush()
  const server = exporter.getFinishedSpans().find((span) => span.kind === SpanKind.SERVER && span.spanContext().traceId === traceId)
  assert.ok(server, 'the server span')
  assert.equal(server.status.code, SpanStatusCode.ERROR)
  assert.equal(server.attributes['http.response.status_code'], 503)
  assert.equal(server.attributes['error.type'], '503')
})

test('a sampled request whose client hangs up before the answer ends its server span without a status', async () => {
  const traceId = hex(16)
  const abort = new AbortController()
  const answer = fetch(`${base(service)}/hang`, { headers: { traceparent: `00-${traceId}-${hex(8)}-01` }, signal: abort.signal })
  while (hanging.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  const closed = new Promise((resolve) => hanging[0]?.once('close', resolve))
  abort.abort()
  await assert.rejects(answer)
  await closed
  await telemetry.forceFlush()
  const server = exporter.getFinishedSpans().find((span) => span.kind === SpanKind.SERVER && span.spanContext().traceId === traceId)
  assert.ok(server, 'the server span ended when the connection closed')
  assert.equal(server.attributes['http.response.status_code'], undefined, 'no status was sent, none is claimed')
  assert.equal(server.status.code, SpanStatusCode.UNSET)
})
