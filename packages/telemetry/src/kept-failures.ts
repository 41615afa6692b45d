// "Errors always kept" under head sampling. The sampler decides at a trace's first span whether it
// is recorded, so the traces it drops cost next to nothing; a dropped trace that then fails would be
// lost. Each process therefore exports the failure it saw itself — the failed request (5xx), job
// attempt or provider call — as one span with the ids it had while unrecorded (same trace id, same
// span id, the parent it had), so the failures of one request across processes meet in one trace.
// What such a trace lacks is everything that succeeded: siblings, Postgres and Redis spans.
import { SpanStatusCode, type Attributes, type Context, type SpanContext, type SpanKind, type TimeInput } from '@opentelemetry/api'
import { AlwaysOnSampler, RandomIdGenerator, TracerProvider, type IdGenerator, type SpanProcessor } from '@opentelemetry/sdk-trace'
import type { Resource } from '@opentelemetry/resources'

export interface KeptFailure {
  name: string
  kind: SpanKind
  /** The unrecorded span: its trace id and span id are what the exported span gets. */
  spanContext: SpanContext
  /** Where the unrecorded span hung (its parent span in `parent`, if any). */
  parent: Context
  startTime?: TimeInput
  attributes?: Attributes
}

export type KeepFailure = (failure: KeptFailure) => void

/** Exports failures of unrecorded traces through `spanProcessors` (the privacy processor first, as for every span). */
export function failureKeeper(resource: Resource, spanProcessors: SpanProcessor[]): { keep: KeepFailure; shutdown: () => Promise<void> } {
  const random = new RandomIdGenerator()
  // The next span is given the ids of the unrecorded span it stands for (startSpan is synchronous).
  let next: SpanContext | undefined
  const idGenerator: IdGenerator = {
    generateTraceId: () => next?.traceId ?? random.generateTraceId(),
    generateSpanId: () => next?.spanId ?? random.generateSpanId(),
  }
  const provider = new TracerProvider({ resource, sampler: new AlwaysOnSampler(), idGenerator, spanProcessors })
  const tracer = provider.getTracer('@hub/telemetry/kept-failures')
  return {
    keep(failure) {
      next = failure.spanContext
      try {
        const span = tracer.startSpan(failure.name, { kind: failure.kind, ...(failure.startTime !== undefined ? { startTime: failure.startTime } : {}), attributes: { ...failure.attributes, 'sampling.kept': 'failure' } }, failure.parent)
        span.setStatus({ code: SpanStatusCode.ERROR })
        span.end()
      } finally {
        next = undefined
      }
    },
    shutdown: () => provider.shutdown(),
  }
}
