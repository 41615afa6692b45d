// bench/telemetry otlp-export: what exporting a span costs as OTLP/HTTP protobuf (the default) and
// as JSON, side by side in one run: the same finished spans (a server span and a statement span
// per request, as venue-service records for the venue read) exported in batches, by the exporters
// the SDK starts (`exporterFromEnv`), to the tracing bench's sink, alternating protocols. Prints
// CPU per span (this process: encoding, the HTTP request, and the sink reading the bytes) and
// bytes per span.
import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace'
import { exporterFromEnv, type OtlpProtocol } from '../../packages/telemetry/src/sdk.ts'
import { median, startSink } from '../gateway/tracing.ts'
import { fmt } from '../support.ts'

const BATCH = 512 // the batch processor's default export size
const BATCHES = Number(process.env.BENCH_BATCHES ?? 40)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)

function finishedSpans(): ReadableSpan[] {
  const memory = new InMemorySpanExporter()
  const provider = new TracerProvider({ resource: resourceFromAttributes({ 'service.name': 'venue-service' }), spanProcessors: [new SimpleSpanProcessor({ exporter: memory })] })
  const tracer = provider.getTracer('@hub/telemetry/http-server')
  for (let i = 0; i < BATCH / 2; i++) {
    const server = tracer.startSpan('GET /api/v1/venues/:id', {
      kind: SpanKind.SERVER,
      attributes: { 'http.request.method': 'GET', 'url.path': `/api/v1/venues/${crypto.randomUUID()}`, 'url.scheme': 'http', 'network.protocol.version': '1.1', 'http.route': '/api/v1/venues/:id', 'http.response.status_code': 200 },
    })
    const statement = tracer.startSpan(
      'select venue_service.venues',
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'db.system.name': 'postgresql',
          'db.namespace': 'hub',
          'server.address': '127.0.0.1',
          'server.port': 5432,
          'db.operation.name': 'select',
          'db.query.text': 'select * from "venue_service"."venues" where "id" = $1 limit $2',
        },
      },
      trace.setSpan(ROOT_CONTEXT, server),
    )
    statement.end()
    server.end()
  }
  return memory.getFinishedSpans()
}

async function main() {
  const sink = await startSink()
  // The exporters read their endpoint from the environment, as in a service.
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = sink.url
  const spans = finishedSpans()
  const protocols: OtlpProtocol[] = ['http/protobuf', 'http/json']
  const exporters = new Map(protocols.map((protocol) => [protocol, exporterFromEnv({ OTEL_EXPORTER_OTLP_PROTOCOL: protocol })]))
  const figures = new Map(protocols.map((protocol) => [protocol, { us: [] as number[], bytes: 0 }]))
  const exportOnce = (exporter: SpanExporter) => new Promise<void>((resolve, reject) => exporter.export(spans, (result) => (result.code === 0 ? resolve() : reject(result.error ?? new Error('export failed')))))
  // Warm-up: both paths compiled before anything is measured.
  for (const exporter of exporters.values()) for (let i = 0; i < 10; i++) await exportOnce(exporter)
  for (let round = 0; round < ROUNDS; round++) {
    for (const [protocol, exporter] of exporters) {
      const bytesBefore = sink.bytes()
      const before = process.cpuUsage()
      for (let i = 0; i < BATCHES; i++) await exportOnce(exporter)
      const used = process.cpuUsage(before)
      const figure = figures.get(protocol) as { us: number[]; bytes: number }
      figure.us.push((used.user + used.system) / (BATCHES * spans.length))
      figure.bytes = (sink.bytes() - bytesBefore) / (BATCHES * spans.length)
    }
    process.stdout.write(`  round ${round + 1} of ${ROUNDS}\r`)
  }
  await Promise.all([...exporters.values()].map((exporter) => exporter.shutdown()))
  await sink.close()
  console.log(`\nbench/telemetry otlp-export — ${spans.length} spans per batch, ${BATCHES} batches per round, ${ROUNDS} rounds alternating`)
  for (const [protocol, figure] of figures) {
    console.log(`  ${protocol.padEnd(14)} CPU per span ${fmt(Math.min(...figure.us), 2)}–${fmt(Math.max(...figure.us), 2)} µs (median ${fmt(median(figure.us), 2)})  bytes per span ${fmt(figure.bytes)}`)
  }
  const protobuf = figures.get('http/protobuf') as { us: number[]; bytes: number }
  const json = figures.get('http/json') as { us: number[]; bytes: number }
  const ratio = median(protobuf.us) / median(json.us)
  // The shipped default should cost less than the JSON it replaced; the limit compared with is JSON's own cost in this run.
  console.log(`  target: protobuf (shipped) below JSON (the limit, same run): ${fmt(ratio * 100, 0)} % of JSON's CPU, ${fmt((protobuf.bytes / json.bytes) * 100, 0)} % of its bytes: ${ratio < 1 ? 'met' : 'NOT met'}`)
}

await main()
