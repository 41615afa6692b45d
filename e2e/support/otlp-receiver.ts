// A local OTLP/HTTP receiver for the system tests: accepts `POST /v1/traces` in the JSON encoding
// (OTEL_EXPORTER_OTLP_PROTOCOL=http/json, what @opentelemetry/exporter-trace-otlp-http sends) and
// keeps every span it was sent, flattened with its service name.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

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
    scopeSpans?: Array<{ spans?: Array<{ traceId: string; spanId: string; parentSpanId?: string; name: string; kind?: number; status?: { code?: number }; attributes?: OtlpKeyValue[]; events?: Array<{ attributes?: OtlpKeyValue[] }> }> }>
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

/** The JSON encoding writes ids as hex strings (or base64 from older exporters); always hex here. */
function hexId(id: string | undefined): string | undefined {
  if (!id) return undefined
  return /^[0-9a-f]+$/i.test(id) ? id.toLowerCase() : Buffer.from(id, 'base64').toString('hex')
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
      if (process.env.OTLP_DEBUG) console.error('otlp', req.method, req.url, req.headers['content-type'])
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !String(req.headers['content-type']).includes('json')) {
        res.writeHead(415).end()
        return
      }
      const text = Buffer.concat(chunks).toString('utf8')
      rawBodies.push(text)
      const body = JSON.parse(text) as OtlpRequest
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
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
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
