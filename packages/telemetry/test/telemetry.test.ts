import assert from 'node:assert/strict'
import { test } from 'node:test'
import { context, ROOT_CONTEXT, SpanKind, trace, TraceFlags } from '@opentelemetry/api'
import { InMemorySpanExporter, SamplingDecision } from '@opentelemetry/sdk-trace'
import { activeTraceIds, contextFromCarrier, currentTraceCarrier, inSpan } from '../src/index.ts'
import { samplerFromEnv, startTelemetry, tracingRequested } from '../src/sdk.ts'

test('tracing is off without an OTLP endpoint, and the helpers then do nothing', async () => {
  assert.equal(tracingRequested({}), false)
  assert.equal(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }), false)
  assert.equal(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }), true)
  await inSpan('nothing', {}, async () => {
    assert.equal(activeTraceIds(), undefined)
    assert.equal(currentTraceCarrier(), undefined)
  })
})

test('sampling is a parent-based trace-id ratio; at the edge a caller cannot force a trace to be kept', () => {
  const sampled = trace.setSpanContext(ROOT_CONTEXT, { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED, isRemote: true })
  // A trace id whose ratio test fails at 0 %: only the parent can keep it.
  const decide = (sampler: ReturnType<typeof samplerFromEnv>, ctx = sampled) => sampler.shouldSample(ctx, 'ffffffffffffffffffffffffffffffff', 'span', SpanKind.SERVER, {}, []).decision
  const service = samplerFromEnv({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' })
  const edge = samplerFromEnv({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' }, true)
  assert.equal(decide(service), SamplingDecision.RECORD_AND_SAMPLED, 'a service follows its caller')
  assert.equal(decide(edge), SamplingDecision.NOT_RECORD, 'the edge applies its own ratio')
  assert.equal(decide(service, ROOT_CONTEXT), SamplingDecision.NOT_RECORD)
  assert.equal(decide(samplerFromEnv({}), ROOT_CONTEXT), SamplingDecision.RECORD_AND_SAMPLED, 'default: everything (the collector samples)')
})

test('spans carry no query string, client address, header or error message, and a job carrier continues its trace', async () => {
  const exporter = new InMemorySpanExporter()
  const telemetry = startTelemetry({ serviceName: 'telemetry-test', exporter, env: {} })
  const tracer = trace.getTracer('test')
  let carrier: ReturnType<typeof currentTraceCarrier>
  await inSpan(
    'request',
    {
      kind: SpanKind.SERVER,
      attributes: {
        'url.full': 'https://hub.example/oauth/callback?code=secret-code&state=s',
        'url.path': '/oauth/callback?code=secret-code',
        'url.query': 'code=secret-code',
        'client.address': '203.0.113.9',
        'http.request.header.authorization': 'Bearer x',
      },
    },
    async (span) => {
      span.recordException(new Error('duplicate key value (email)=(person@example.org)'))
      carrier = currentTraceCarrier()
      assert.ok(activeTraceIds(), 'a sampled span has ids for the logs')
    },
  )
  assert.ok(carrier?.traceparent, 'the carrier holds a traceparent')
  const job = tracer.startSpan('job', {}, contextFromCarrier(carrier))
  job.end()
  await assert.rejects(
    inSpan('failing', {}, async () => {
      throw new Error('provider said: card 4242 4242 4242 4242 declined')
    }),
  )
  await telemetry.forceFlush()
  const spans = exporter.getFinishedSpans()
  const request = spans.find((span) => span.name === 'request')
  const child = spans.find((span) => span.name === 'job')
  assert.ok(request && child)
  assert.equal(child.spanContext().traceId, request.spanContext().traceId)
  assert.equal(child.parentSpanContext?.spanId, request.spanContext().spanId)
  const exported = JSON.stringify(spans.map((span) => ({ attributes: span.attributes, events: span.events, status: span.status })))
  for (const secret of ['secret-code', '203.0.113.9', 'Bearer', 'person@example.org', '4242']) assert.ok(!exported.includes(secret), `${secret} was exported`)
  assert.equal(request.attributes['url.full'], 'https://hub.example/oauth/callback')
  assert.equal(spans.find((span) => span.name === 'failing')?.status.code, 2, 'a failure is recorded by its type')
  assert.equal(contextFromCarrier({ traceparent: 42 }), ROOT_CONTEXT, 'a malformed carrier starts a new trace')
  await telemetry.shutdown()
  context.disable()
})
