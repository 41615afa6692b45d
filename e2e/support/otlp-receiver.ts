// A local OTLP/HTTP receiver for the system tests: accepts `POST /v1/traces` in the protobuf
// encoding the services send by default (OTLP/HTTP, `application/x-protobuf`), decodes it with
// protobufjs against the part of the OpenTelemetry protocol's schema the tests read, and keeps every
// span it was sent, flattened with its service name.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import protobuf from 'protobufjs'

// From opentelemetry-proto (collector/trace/v1, trace/v1, common/v1, resource/v1), same field
// numbers; fields the tests do not read are left out, and the decoder skips them.
const OTLP_TRACE_SCHEMA = `
syntax = "proto3";
package otlp;
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeSpans { repeated Span spans = 2; }
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  bytes parent_span_id = 4;
  string name = 5;
  int32 kind = 6;
  repeated KeyValue attributes = 9;
  repeated Event events = 11;
  Status status = 15;
}
message Event { repeated KeyValue attributes = 3; }
message Status { int32 code = 3; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
`
const ExportTraceServiceRequest = protobuf.parse(OTLP_TRACE_SCHEMA).root.lookupType('otlp.ExportTraceServiceRequest')

export type AttributeValue = string | number | boolean | null | AttributeValue[]

export interface ReceivedSpan {
  service: string
  traceId: string
  spanId: string
  parentSpanId: string | undefined
  name: string
  kind: number
  statusCode: number
  attributes: Record<string, AttributeValue>
  /** Event attributes (exceptions), flattened, for the privacy checks. */
  eventAttributes: Record<string, AttributeValue>[]
}

interface OtlpAnyValue {
  stringValue?: string
  intValue?: string | number
  doubleValue?: number
  boolValue?: boolean
  arrayValue?: { values?: OtlpAnyValue[] }
}
interface OtlpKeyValue {
  key: string
  value?: OtlpAnyValue
}
interface OtlpRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpKeyValue[] }
    scopeSpans?: Array<{
      spans?: Array<{ traceId: Uint8Array; spanId: Uint8Array; parentSpanId?: Uint8Array; name: string; kind?: number; status?: { code?: number }; attributes?: OtlpKeyValue[]; events?: Array<{ attributes?: OtlpKeyValue[] }> }>
    }>
  }>
}

function valueOf(value: OtlpAnyValue | undefined): AttributeValue {
  if (!value) return null
  if (value.stringValue !== undefined) return value.stringValue
  if (value.intValue !== undefined) return Number(value.intValue)
  if (value.doubleValue !== undefined) return value.doubleValue
  if (value.boolValue !== undefined) return value.boolValue
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(valueOf)
  return null
}

function attributesOf(list: OtlpKeyValue[] | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = Object.create(null) as Record<string, AttributeValue>
  for (const { key, value } of list ?? []) out[key] = valueOf(value)
  return out
}

/** Ids travel as bytes; an absent one (a root's parent) as none. */
function hexId(id: Uint8Array | undefined): string | undefined {
  return id?.length ? Buffer.from(id).toString('hex') : undefined
}

export interface OtlpReceiver {
  url: string
  spans: ReceivedSpan[]
  /** Every raw request body, for searching the whole export for secrets. */
  rawBodies: string[]
  close(): Promise<void>
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = []
  const rawBodies: string[] = []
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces' || req.headers['content-type'] !== 'application/x-protobuf') {
        res.writeHead(415).end()
        return
      }
      const bytes = Buffer.concat(chunks)
      // Strings travel as UTF-8 bytes, whole: searching the decoded body finds any of them.
      rawBodies.push(bytes.toString('utf8'))
      const body = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(bytes), { longs: String }) as OtlpRequest
      for (const resourceSpans of body.resourceSpans ?? []) {
        const service = String(attributesOf(resourceSpans.resource?.attributes)['service.name'] ?? 'unknown')
        for (const scope of resourceSpans.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) {
            spans.push({
              service,
              traceId: hexId(span.traceId) ?? '',
              spanId: hexId(span.spanId) ?? '',
              parentSpanId: hexId(span.parentSpanId),
              name: span.name,
              kind: span.kind ?? 0,
              statusCode: span.status?.code ?? 0,
              attributes: attributesOf(span.attributes),
              eventAttributes: (span.events ?? []).map((event) => attributesOf(event.attributes)),
            })
          }
        }
      }
      // An empty ExportTraceServiceResponse: everything accepted.
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    rawBodies,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
