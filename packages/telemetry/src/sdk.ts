// Starts OpenTelemetry tracing in this process: W3C trace context, an async-local context manager,
// the http, undici, Fastify, pg and ioredis instrumentations, the privacy processor, and an OTLP/HTTP
// exporter (JSON) to OTEL_EXPORTER_OTLP_ENDPOINT. Loaded only when tracing is on (see register.ts).
import { context, diag, DiagConsoleLogger, DiagLogLevel, propagation, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { registerInstrumentations } from '@opentelemetry/instrumentation'
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http'
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis'
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg'
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, SimpleSpanProcessor, TraceIdRatioBasedSampler, TracerProvider, type Sampler, type SpanExporter } from '@opentelemetry/sdk-trace'
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions'
import { FastifyOtelInstrumentation } from '@fastify/otel'
import { PrivacySpanProcessor } from './privacy.ts'

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

export function startTelemetry(options: TelemetryOptions): Telemetry {
  const env = options.env ?? process.env
  if (env.OTEL_LOG_LEVEL?.toLowerCase() === 'debug') diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.DEBUG)
  const exporter = options.exporter ?? new OTLPTraceExporter()
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName }),
    sampler: samplerFromEnv(env, options.edge),
    // The privacy processor runs first, so the exporter only ever sees scrubbed spans.
    spanProcessors: [new PrivacySpanProcessor(), options.exporter ? new SimpleSpanProcessor({ exporter }) : new BatchSpanProcessor({ exporter, scheduledDelayMillis: positive(env.OTEL_BSP_SCHEDULE_DELAY) ?? 5_000 })],
  })
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }))
  trace.setGlobalTracerProvider(provider)
  const ignoreIncoming = (path: string | undefined) => UNTRACED_PATHS.has((path ?? '').split('?')[0] ?? '')
  // OTEL_NODE_DISABLED_INSTRUMENTATIONS (as in the SDK's auto-instrumentations): e.g. `fastify`
  // keeps the HTTP server span but drops the per-route and per-hook spans.
  const disabled = new Set((env.OTEL_NODE_DISABLED_INSTRUMENTATIONS ?? '').split(',').map((name) => name.trim()).filter(Boolean))
  const wanted = <T>(name: string, make: () => T): T[] => (disabled.has(name) ? [] : [make()])
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      // Trace context goes out on every request; the server span of a probe or scrape is skipped.
      ...wanted('http', () => new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => ignoreIncoming(req.url), requireParentforOutgoingSpans: true })),
      ...wanted('undici', () => new UndiciInstrumentation({ requireParentforSpans: true })),
      ...wanted('fastify', () => new FastifyOtelInstrumentation({ registerOnInitialization: true, ignorePaths: (route) => ignoreIncoming(route.url) })),
      // Statements as written ($1 placeholders), never their values; no spans for pool checkouts.
      ...wanted('pg', () => new PgInstrumentation({ enhancedDatabaseReporting: false, requireParentSpan: true, ignoreConnectSpans: true })),
      // The command name only: keys and values can carry ids, IPs and nonces.
      ...wanted('ioredis', () => new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (command) => command })),
    ],
  })
  return {
    shutdown: () => provider.shutdown(),
    forceFlush: () => provider.forceFlush(),
  }
}
