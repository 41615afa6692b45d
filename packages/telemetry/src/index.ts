// The tracing helpers the services call: they use only @opentelemetry/api, so with the SDK not
// started (the default) every helper is a no-op costing a function call, and nothing of the SDK
// is loaded. The SDK itself is started by `@hub/telemetry/register` (see sdk.ts).
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Attributes, type Context, type Span, type SpanContext } from '@opentelemetry/api'

export const TRACER_NAME = '@hub/telemetry'
const tracer = () => trace.getTracer(TRACER_NAME)

/** The W3C trace context (`traceparent`, `tracestate`) of the active span, as plain strings. */
export type TraceCarrier = Record<string, string>

/** The active context as W3C headers, for a hop the instrumentations do not see (job data). */
export function currentTraceCarrier(): TraceCarrier | undefined {
  const carrier: TraceCarrier = Object.create(null) as TraceCarrier
  propagation.inject(context.active(), carrier)
  return carrier.traceparent ? { ...carrier } : undefined
}

/** The context a carrier describes (the root context when there is none or it is malformed). */
export function contextFromCarrier(carrier: unknown): Context {
  if (!carrier || typeof carrier !== 'object') return ROOT_CONTEXT
  const clean: TraceCarrier = Object.create(null) as TraceCarrier
  for (const key of ['traceparent', 'tracestate']) {
    const value = (carrier as Record<string, unknown>)[key]
    if (typeof value === 'string' && value.length <= 512) clean[key] = value
  }
  return propagation.extract(ROOT_CONTEXT, clean)
}

/** Trace and span id of the active span when it is sampled, for log lines and problem bodies. */
export function activeTraceIds(): { trace_id: string; span_id: string } | undefined {
  const span = trace.getActiveSpan()
  if (!span) return undefined
  const ctx = span.spanContext()
  if ((ctx.traceFlags & TraceFlags.SAMPLED) === 0) return undefined
  return { trace_id: ctx.traceId, span_id: ctx.spanId }
}

/** Adds attributes to the active span (e.g. the request id on the request's server span). */
export function annotateActiveSpan(attributes: Attributes): void {
  trace.getActiveSpan()?.setAttributes(attributes)
}

/** What exports a failed span of an unrecorded trace (set by the SDK when tracing is on; see kept-failures.ts). */
export interface FailureKeeper {
  (failure: { name: string; kind: SpanKind; spanContext: SpanContext; parent: Context; startTime?: number; attributes?: Attributes }): void
}

let keepFailure: FailureKeeper | undefined

export function setFailureKeeper(keeper: FailureKeeper | undefined): void {
  keepFailure = keeper
}

const errorType = (error: unknown) => (error instanceof Error ? error.name : typeof error)

function recordFailure(span: Span, error: unknown): void {
  // Only the error's class and a fixed message: an SDK error's message can quote the request.
  const name = errorType(error)
  span.setStatus({ code: SpanStatusCode.ERROR, message: name })
  span.setAttribute('error.type', name)
}

/**
 * Runs `fn` in a new active span. `attributes` and whatever `fn` sets through `span` must never be
 * secrets or personal data: ids, names of things, counts and outcomes only.
 */
export async function inSpan<T>(name: string, options: { kind?: SpanKind; attributes?: Attributes; parent?: Context; links?: Context[] }, fn: (span: Span) => Promise<T>, more: { expected?: (error: unknown) => boolean } = {}): Promise<T> {
  const parent = options.parent ?? context.active()
  const links = (options.links ?? [])
    .map((ctx) => trace.getSpanContext(ctx))
    .filter((link) => link !== undefined)
    .map((spanContext) => ({ context: spanContext }))
  const kind = options.kind ?? SpanKind.INTERNAL
  const startTime = keepFailure ? Date.now() : 0
  return tracer().startActiveSpan(name, { kind, ...(options.attributes ? { attributes: options.attributes } : {}), ...(links.length ? { links } : {}) }, parent, async (span) => {
    try {
      return await fn(span)
    } catch (error) {
      // An expected rejection (a run asked to stop) ends the span without marking it failed.
      if (!more.expected?.(error)) {
        recordFailure(span, error)
        // A trace the sampler dropped still keeps its failures (errors always kept).
        if (!span.isRecording() && trace.isSpanContextValid(span.spanContext())) keepFailure?.({ name, kind, spanContext: span.spanContext(), parent, startTime, attributes: { ...options.attributes, 'error.type': errorType(error) } })
      }
      throw error
    } finally {
      span.end()
    }
  })
}

export { SpanKind, SpanStatusCode, type Attributes, type Span }
