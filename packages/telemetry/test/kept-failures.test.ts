import assert from 'node:assert/strict'
import type * as Http from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { after, test } from 'node:test'
import { context, SpanKind, trace, type SpanContext } from '@opentelemetry/api'
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace'
import { inSpan } from '../src/index.ts'
import { startTelemetry } from '../src/sdk.ts'

// Nothing is sampled: every span exported here is a kept failure.
const exporter = new InMemorySpanExporter()
const telemetry = startTelemetry({ serviceName: 'kept-failures-test', exporter, env: { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' } })
after(async () => {
  await telemetry.shutdown()
  context.disable()
})
// Required after the SDK started, as a service's Fastify requires it, so the instrumentation patched it.
const http = createRequire(import.meta.url)('node:http') as typeof Http

test('a trace the sampler dropped exports nothing while it succeeds, and each failed span with the ids it propagated', async () => {
  exporter.reset()
  await inSpan('fine', {}, async () => undefined)
  let job: SpanContext | undefined
  let call: SpanContext | undefined
  await assert.rejects(
    inSpan('sync process', { kind: SpanKind.CONSUMER, attributes: { 'messaging.destination.name': 'sync', 'job.attempt': 2 } }, async (span) => {
      job = span.spanContext()
      await inSpan('stripe listCustomers', { kind: SpanKind.CLIENT, attributes: { 'provider.name': 'stripe' } }, async (inner) => {
        call = inner.spanContext()
        throw new TypeError('card 4242 declined for person@example.org')
      })
    }),
  )
  await telemetry.forceFlush()
  const spans = exporter.getFinishedSpans()
  assert.deepEqual(spans.map((span) => span.name).sort(), ['stripe listCustomers', 'sync process'], 'only the failed spans')
  const keptJob = spans.find((span) => span.name === 'sync process')
  const keptCall = spans.find((span) => span.name === 'stripe listCustomers')
  assert.ok(job && call && keptJob && keptCall)
  assert.equal((job.traceFlags & 1) === 0, true, 'the job span was not sampled')
  assert.deepEqual([keptJob.spanContext().traceId, keptJob.spanContext().spanId], [job.traceId, job.spanId])
  assert.deepEqual([keptCall.spanContext().traceId, keptCall.spanContext().spanId], [call.traceId, call.spanId])
  assert.equal(keptCall.parentSpanContext?.spanId, job.spanId, 'the failed call hangs under the failed job')
  assert.equal(keptJob.kind, SpanKind.CONSUMER)
  assert.equal(keptJob.status.code, 2)
  assert.equal(keptJob.attributes['messaging.destination.name'], 'sync')
  assert.equal(keptCall.attributes['error.type'], 'TypeError')
  assert.equal(keptCall.attributes['sampling.kept'], 'failure')
  assert.ok(!JSON.stringify(spans.map((span) => [span.attributes, span.events, span.status])).includes('person@example.org'), 'no error message is exported')
})

test("a request the sampler dropped exports its server span only when it answers 5xx, under the caller's span", async () => {
  exporter.reset()
  const server = http.createServer((req, res) => {
    res.setHeader('x-request-id', 'req-kept-1')
    res.writeHead(req.url?.startsWith('/fail') ? 503 : 200).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  after(() => server.close())
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const caller = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' }
  const traceparent = `00-${caller.traceId}-${caller.spanId}-00`
  assert.equal((await fetch(`${base}/fine`, { headers: { traceparent } })).status, 200)
  assert.equal((await fetch(`${base}/fail?code=secret-code`, { headers: { traceparent } })).status, 503)
  await telemetry.forceFlush()
  const spans = exporter.getFinishedSpans()
  assert.equal(spans.length, 1, `one kept span: ${spans.map((span) => span.name).join(', ')}`)
  const [kept] = spans
  assert.ok(kept)
  assert.equal(kept.kind, SpanKind.SERVER)
  assert.equal(kept.spanContext().traceId, caller.traceId, "the caller's trace")
  assert.equal(kept.parentSpanContext?.spanId, caller.spanId, "under the caller's span")
  assert.equal(kept.attributes['http.response.status_code'], 503)
  assert.equal(kept.attributes['http.request.id'], 'req-kept-1', 'found from the problem requestId')
  assert.equal(kept.attributes['url.path'], '/fail', 'no query string')
  assert.equal(kept.status.code, 2)
  assert.equal(trace.getActiveSpan(), undefined)
})
