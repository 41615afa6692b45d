// Starts OpenTelemetry tracing in this process: W3C trace context, an async-local context manager,
// the http, undici, Fastify, pg and ioredis instrumentations, the privacy processor, and an OTLP/HTTP
// exporter (protobuf unless JSON is asked for) to OTEL_EXPORTER_OTLP_ENDPOINT. Loaded only when
// tracing is on (see register.ts).
import diagnosticsChannel from 'node:diagnostics_channel'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { context, diag, DiagConsoleLogger, DiagLogLevel, propagation, SpanKind, trace, type Context, type Span } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { CompositePropagator, getRPCMetadata, RPCType, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter as OTLPJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { OTLPTraceExporter as OTLPProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto'
import { InstrumentationBase, registerInstrumentations } from '@opentelemetry/instrumentation'
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http'
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis'
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg'
import { resourceFromAttributes } from '@opentelemetry/resources'
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  RandomIdGenerator,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type IdGenerator,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace'
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions'
import { FastifyOtelInstrumentation } from '@fastify/otel'
import { setFailureKeeper } from './index.ts'
import { failureKeeper, type KeepFailure } from './kept-failures.ts'
import { PrivacySpanProcessor } from './privacy.ts'
import { decideIncomingFirst, onlyWhenRecording, PropagatingUndiciInstrumentation } from './unsampled.ts'

export interface TelemetryOptions {
  serviceName: string
  /**
   * The public edge (the gateway): a caller's `traceparent` still links the trace, but its sampled
   * flag does not force recording, so nobody outside can raise the sampling rate.
   */
  edge?: boolean
  /** Instead of OTLP (tests). */
  exporter?: SpanExporter
  env?: Record<string, string | undefined>
}

export interface Telemetry {
  shutdown(): Promise<void>
  forceFlush(): Promise<void>
}

/** Paths that are polled all day (probes, scrapes): never traced. */
const UNTRACED_PATHS = new Set(['/health', '/ready', '/metrics'])

/** OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG as the specification names them; default parent-based always-on. */
export function samplerFromEnv(env: Record<string, string | undefined>, edge = false): Sampler {
  const name = (env.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on').trim().toLowerCase()
  const arg = Number(env.OTEL_TRACES_SAMPLER_ARG)
  const ratio = Number.isFinite(arg) && arg >= 0 && arg <= 1 ? arg : 1
  const root: Sampler = name.endsWith('always_off') ? new AlwaysOffSampler() : name.endsWith('traceidratio') ? new TraceIdRatioBasedSampler(ratio) : new AlwaysOnSampler()
  if (!name.startsWith('parentbased_')) return root
  return new ParentBasedSampler({ root, ...(edge ? { remoteParentSampled: root, remoteParentNotSampled: root } : {}) })
}

const positive = (value: string | undefined) => (value && Number(value) > 0 ? Number(value) : undefined)

export function tracingRequested(env: Record<string, string | undefined>): boolean {
  if ((env.OTEL_SDK_DISABLED ?? '').toLowerCase() === 'true') return false
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
}

export type OtlpProtocol = 'http/protobuf' | 'http/json'

/**
 * OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL: `http/protobuf` (the
 * specification's default) or `http/json`. Protobuf is the default here too for its cost: the
 * exporter writes it straight from the spans, where JSON builds the whole request as objects,
 * stringifies it and encodes the string, about twice the bytes. gRPC is not shipped: asking for
 * it stops the process at start rather than sending nothing.
 */
export function otlpProtocol(env: Record<string, string | undefined>): OtlpProtocol {
  const variable = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL?.trim() ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL'
  const value = (env[variable]?.trim() || 'http/protobuf').toLowerCase()
  if (value === 'http/protobuf' || value === 'http/json') return value
  throw new Error(`${variable} '${value}' is not supported: use http/protobuf (the default) or http/json`)
}

/** The OTLP/HTTP exporter the protocol names; it reads its endpoint, headers and timeout from the OTEL_EXPORTER_OTLP_* variables itself. */
export function exporterFromEnv(env: Record<string, string | undefined>): SpanExporter {
  return otlpProtocol(env) === 'http/json' ? new OTLPJsonTraceExporter() : new OTLPProtobufTraceExporter()
}

export function startTelemetry(options: TelemetryOptions): Telemetry {
  const env = options.env ?? process.env
  if (env.OTEL_LOG_LEVEL?.toLowerCase() === 'debug') diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.DEBUG)
  const exporter = options.exporter ?? exporterFromEnv(env)
  const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName })
  // The privacy processor runs first, so the exporter only ever sees scrubbed spans.
  const spanProcessors = [new PrivacySpanProcessor(), options.exporter ? new SimpleSpanProcessor({ exporter }) : new BatchSpanProcessor({ exporter, scheduledDelayMillis: positive(env.OTEL_BSP_SCHEDULE_DELAY) ?? 5_000 })]
  const sampler = samplerFromEnv(env, options.edge)
  const ids = reservableIds()
  const provider = new TracerProvider({ resource, sampler, idGenerator: ids, spanProcessors })
  const failures = failureKeeper(resource, spanProcessors)
  setFailureKeeper(failures.keep)
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }))
  trace.setGlobalTracerProvider(provider)
  const ignoreIncoming = (path: string | undefined) => UNTRACED_PATHS.has((path ?? '').split('?')[0] ?? '')
  const wanted = instrumentationFilter(env)
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      // Trace context goes out on every request; the server span of a probe or scrape is skipped.
      // A request is decided first and given a server span of our own, recorded only when sampled
      // (unsampled.ts); the instrumentation keeps the client spans of node:http requests (the
      // provider SDKs). A 5xx of a request the sampler dropped is still exported (errors always kept).
      ...wanted('http', () =>
        decideIncomingFirst(
          new HttpInstrumentation({
            ignoreIncomingRequestHook: (req) => markStart(req) && ignoreIncoming(req.url),
            requireParentforOutgoingSpans: true,
          }),
          {
            sampler,
            ids,
            tracer: provider.getTracer('@hub/telemetry/http-server'),
            ignored: (req) => markStart(req) && ignoreIncoming(req.url),
            withTraceId: ids.reserve,
            keepFailed: (span, req, res, rpc, parent) => keepFailedRequest(span, req, res, failures.keep, rpc.route, parent),
          },
        ),
      ),
      // Outside a recording span a request only carries the trace context on.
      ...wanted('undici', () => new PropagatingUndiciInstrumentation({ requireParentforSpans: true })),
      // The route on the server span (`GET /api/v1/venues/:id`) from one onRequest hook.
      ...wanted('fastify-route', () => new FastifyRouteInstrumentation()),
      // A span per Fastify hook and handler: detailed, and the largest share of tracing's cost (off by default).
      ...wanted('fastify', () => new FastifyOtelInstrumentation({ registerOnInitialization: true, ignorePaths: (route) => ignoreIncoming(route.url) })),
      // Statements as written ($1 placeholders), never their values; no spans for pool checkouts;
      // nothing at all outside a recording span (unsampled.ts).
      ...wanted('pg', () => onlyWhenRecording(new PgInstrumentation({ enhancedDatabaseReporting: false, requireParentSpan: true, ignoreConnectSpans: true }), ['query', 'connect'])),
      // The command name only: keys and values can carry ids, IPs and nonces.
      ...wanted('ioredis', () => onlyWhenRecording(new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (command) => command }), ['sendCommand', 'connect'])),
    ],
  })
  return {
    shutdown: async () => {
      setFailureKeeper(undefined)
      await provider.shutdown()
      await failures.shutdown()
    },
    forceFlush: () => provider.forceFlush(),
  }
}

/** The instrumentations a process runs (`fastify`, per-hook spans, only when asked for). */
const DEFAULT_INSTRUMENTATIONS = ['http', 'undici', 'fastify-route', 'pg', 'ioredis']

/**
 * OTEL_NODE_ENABLED_INSTRUMENTATIONS (the exact set, e.g. adding `fastify`) and
 * OTEL_NODE_DISABLED_INSTRUMENTATIONS (removed from it), as the SDK's auto-instrumentations name them.
 */
export function instrumentationFilter(env: Record<string, string | undefined>): <T>(name: string, make: () => T) => T[] {
  const list = (value: string | undefined) =>
    (value ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean)
  const enabled = new Set(env.OTEL_NODE_ENABLED_INSTRUMENTATIONS?.trim() ? list(env.OTEL_NODE_ENABLED_INSTRUMENTATIONS) : DEFAULT_INSTRUMENTATIONS)
  for (const name of list(env.OTEL_NODE_DISABLED_INSTRUMENTATIONS)) enabled.delete(name)
  return (name, make) => (enabled.has(name) ? [make()] : [])
}

const kStart = Symbol('hub.telemetry.start')

/** Notes when a request arrived (for the span of a failure kept later); always true, to chain in a hook. */
function markStart(req: IncomingMessage): true {
  ;(req as IncomingMessage & { [kStart]?: number })[kStart] = Date.now()
  return true
}

/** Trace ids from Math.random (as the SDK's default), except that the next root trace id can be reserved. */
function reservableIds(): IdGenerator & { reserve: <R>(traceId: string, fn: () => R) => R } {
  const random = new RandomIdGenerator()
  let reserved: string | undefined
  return {
    generateTraceId: () => {
      const id = reserved ?? random.generateTraceId()
      reserved = undefined
      return id
    },
    generateSpanId: () => random.generateSpanId(),
    reserve: (traceId, fn) => {
      reserved = traceId
      try {
        return fn()
      } finally {
        reserved = undefined
      }
    },
  }
}

function keepFailedRequest(span: Span, req: IncomingMessage, res: ServerResponse, keep: KeepFailure, route: string | undefined, parent: Context): void {
  if (span.isRecording() || res.statusCode < 500) return
  const spanContext = span.spanContext()
  if (!trace.isSpanContextValid(spanContext)) return
  const method = req.method ?? 'GET'
  const requestId = res.getHeader('x-request-id')
  const startTime = (req as IncomingMessage & { [kStart]?: number })[kStart]
  keep({
    name: route ? `${method} ${route}` : method,
    kind: SpanKind.SERVER,
    spanContext,
    // The caller's span, as the unrecorded server span had it (the privacy processor cuts the path's query).
    parent,
    ...(startTime !== undefined ? { startTime } : {}),
    attributes: {
      'http.request.method': method,
      ...(route ? { 'http.route': route } : {}),
      'url.path': req.url ?? '',
      'http.response.status_code': res.statusCode,
      'error.type': String(res.statusCode),
      ...(typeof requestId === 'string' ? { 'http.request.id': requestId } : {}),
    },
  })
}

/**
 * Names the HTTP server span by its Fastify route, from one onRequest hook on every instance (the
 * route is what `http.route` and the span name carry; the path would make every id a new name).
 */
/** What the hook needs of a Fastify instance (this package does not depend on Fastify). */
interface FastifyLike {
  addHook(name: 'onRequest', hook: (request: { routeOptions: { url?: string } }, reply: unknown, done: () => void) => void): unknown
}

class FastifyRouteInstrumentation extends InstrumentationBase {
  private subscribed: ((message: unknown) => void) | undefined

  constructor() {
    super('@hub/telemetry/fastify-route', '0.1.0', {})
  }

  protected init(): [] {
    return []
  }

  override enable(): void {
    if (this.subscribed) return
    this.subscribed = (message) => {
      const app = (message as { fastify: FastifyLike }).fastify
      app.addHook('onRequest', function nameServerSpan(request, _reply, done) {
        const metadata = getRPCMetadata(context.active())
        if (metadata?.type === RPCType.HTTP && request.routeOptions.url !== undefined) metadata.route = request.routeOptions.url
        done()
      })
    }
    diagnosticsChannel.subscribe('fastify.initialization', this.subscribed)
  }

  override disable(): void {
    if (this.subscribed) diagnosticsChannel.unsubscribe('fastify.initialization', this.subscribed)
    this.subscribed = undefined
  }
}
