import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { context, ROOT_CONTEXT, SpanKind, trace, TraceFlags } from '@opentelemetry/api'
import { InMemorySpanExporter, SamplingDecision, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace'
import { activeTraceIds, contextFromCarrier, currentTraceCarrier, inSpan } from '../src/index.ts'
import { exporterFromEnv, otlpProtocol, samplerFromEnv, startTelemetry, tracingRequested } from '../src/sdk.ts'

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
  // Whole phrases of the error message: a bare '4242' also turns up in event timestamps now and then.
  for (const secret of ['secret-code', '203.0.113.9', 'Bearer', 'person@example.org', '4242 4242', 'card 4242', 'declined']) assert.ok(!exported.includes(secret), `${secret} was exported`)
  assert.equal(request.attributes['url.full'], 'https://hub.example/oauth/callback')
  assert.equal(spans.find((span) => span.name === 'failing')?.status.code, 2, 'a failure is recorded by its type')
  assert.equal(contextFromCarrier({ traceparent: 42 }), ROOT_CONTEXT, 'a malformed carrier starts a new trace')
  await telemetry.shutdown()
  context.disable()
})

test('spans go out as OTLP/HTTP protobuf by default, as JSON when asked, and an unsupported protocol stops the start', async () => {
  assert.equal(otlpProtocol({}), 'http/protobuf')
  assert.equal(otlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: ' HTTP/JSON ' }), 'http/json')
  assert.equal(otlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }), 'http/protobuf', 'the traces variable wins')
  assert.throws(() => otlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), /^Error: OTEL_EXPORTER_OTLP_PROTOCOL 'grpc' is not supported/)
  assert.throws(() => otlpProtocol({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/xml' }), /^Error: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL 'http\/xml' is not supported/)
  // A process started with it stops before its entry runs, rather than running without traces.
  const started = spawnSync(process.execPath, ['--import', 'tsx', '--import', '@hub/telemetry/register', '-e', "console.log('entry ran')"], {
    cwd: new URL('..', import.meta.url),
    env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
    encoding: 'utf8',
  })
  assert.equal(started.status, 1)
  assert.doesNotMatch(started.stdout, /entry ran/)
  assert.match(started.stderr, /OTEL_EXPORTER_OTLP_PROTOCOL 'grpc' is not supported/)

  // A collector's OTLP/HTTP endpoint: what each exporter sends, as received.
  const received: { path?: string; type?: string; body: Buffer }[] = []
  const collector = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      received.push({ path: req.url, type: req.headers['content-type'], body: Buffer.concat(chunks) })
      res.writeHead(200, { 'content-type': req.headers['content-type'] ?? '' }).end()
    })
  })
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve))
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
  const previous = process.env.OTEL_EXPORTER_OTLP_ENDPOINT
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`
  try {
    const spanContext = { traceId, spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED }
    for (const env of [{}, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }]) {
      const exporter = exporterFromEnv(env)
      const span = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }).getTracer('t').startSpan('GET /api/v1/venues/:id', {}, trace.setSpanContext(ROOT_CONTEXT, spanContext))
      span.end()
      await exporter.forceFlush?.()
      await exporter.shutdown()
    }
  } finally {
    if (previous === undefined) delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT
    else process.env.OTEL_EXPORTER_OTLP_ENDPOINT = previous
    await new Promise((resolve) => collector.close(resolve))
  }
  const [protobuf, json] = received
  assert.equal(protobuf?.path, '/v1/traces')
  assert.equal(protobuf.type, 'application/x-protobuf')
  // Protobuf carries ids as bytes and names as UTF-8.
  assert.ok(protobuf.body.includes(Buffer.from(traceId, 'hex')), 'the trace id, as 16 bytes')
  assert.ok(protobuf.body.includes(Buffer.from('GET /api/v1/venues/:id')), 'the span name')
  assert.equal(json?.path, '/v1/traces')
  assert.equal(json.type, 'application/json')
  const parsed = JSON.parse(json.body.toString('utf8')) as { resourceSpans: { scopeSpans: { spans: { traceId: string; name: string }[] }[] }[] }
  assert.deepEqual(
    parsed.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((span) => [span.traceId, span.name]))),
    [[traceId, 'GET /api/v1/venues/:id']],
  )
  assert.ok(protobuf.body.length < json.body.length / 1.5, `protobuf ${protobuf.body.length} bytes against JSON ${json.body.length}`)
})
