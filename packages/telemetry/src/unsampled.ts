// What a request the sampler dropped still needs from tracing: its trace id and the "not sampled"
// decision passed on to every hop (W3C `traceparent`), so the next service does not start a trace
// of its own, and its failures kept (kept-failures.ts). Everything else the instrumentations do
// per call — building attributes, opening a non-recording span, binding callbacks, timing into a
// no-op meter — produces nothing for such a request, and profiling put that at about as much CPU
// as the server span and context together. So:
// - pg queries and ioredis commands go straight to the uninstrumented call unless the active span
//   is recording (their `requireParentSpan` counts any span as a parent, recorded or not);
// - an undici request only gets the `traceparent` of the active span unless it is recording;
// - an incoming HTTP request is decided first; when dropped, it runs under a non-recording span of
//   its own (fresh span id, the caller's trace) and a 5xx answer is still kept. When sampled, it gets
//   a server span of our own: the HTTP instrumentation's records a dozen attributes, most of which
//   the privacy processor then drops, and patches the request's and the response's listener
//   methods, which gives the sampled tenth of requests other object shapes than the rest (with every
//   request sampled, bench/gateway's CPU per request over untraced fell from +47 % to +29 %, Node 24).
import type { IncomingMessage, ServerResponse } from 'node:http'
import { context, propagation, ROOT_CONTEXT, SamplingDecision, SpanKind, SpanStatusCode, trace, TraceFlags, type Context, type Span, type Tracer } from '@opentelemetry/api'
import { RPCType, setRPCMetadata, type RPCMetadata } from '@opentelemetry/core'
import type { Instrumentation } from '@opentelemetry/instrumentation'
import type { UndiciRequest } from '@opentelemetry/instrumentation-undici'
import { UndiciInstrumentation, type UndiciInstrumentationConfig } from '@opentelemetry/instrumentation-undici'
import type { IdGenerator, Sampler } from '@opentelemetry/sdk-trace'
import { stripQuery } from './privacy.ts'

type Method = (this: unknown, ...args: unknown[]) => unknown
type Wrapper = (original: Method, name: string) => Method

/** The protected shimmer hook every node instrumentation patches through. */
interface Wrapping {
  _wrap: (nodule: object, name: string, wrapper: Wrapper) => unknown
}

const recording = () => trace.getSpan(context.active())?.isRecording() === true

/**
 * Makes `instrumentation` patch the methods in `names` so that a call runs the instrumented
 * version only while the active span is recording, the original otherwise. Patching happens when
 * the module is first required, after this; the original stays reachable for unpatching as before.
 */
export function onlyWhenRecording<T extends Instrumentation>(instrumentation: T, names: readonly string[]): T {
  const self = instrumentation as unknown as Wrapping
  const wrap = self._wrap
  self._wrap = (nodule, name, wrapper) =>
    wrap(nodule, name, (original, field) => {
      const instrumented = wrapper(original, field)
      if (!names.includes(name)) return instrumented
      return function whenRecording(this: unknown, ...args: unknown[]) {
        return recording() ? instrumented.apply(this, args) : original.apply(this, args)
      }
    })
  return instrumentation
}

// Its handler of `undici:request:create` is private in the types, not at run time.
const UndiciBase = UndiciInstrumentation as unknown as new (config?: UndiciInstrumentationConfig) => Instrumentation<UndiciInstrumentationConfig> & {
  onRequestCreated(message: { request: UndiciRequest }): void
}

/** undici's instrumentation, except that a request outside a recording span is only given the active trace context. */
export class PropagatingUndiciInstrumentation extends UndiciBase {
  override onRequestCreated(message: { request: UndiciRequest }): void {
    if (recording()) return super.onRequestCreated(message)
    const { request } = message
    if (request.method === 'CONNECT') return
    const carrier: Record<string, string> = {}
    propagation.inject(context.active(), carrier)
    for (const [name, value] of Object.entries(carrier)) {
      if (typeof request.addHeader === 'function') request.addHeader(name, value)
      else if (typeof request.headers === 'string') request.headers += `${name}: ${value}\r\n`
      else request.headers.push(name, value)
    }
  }
}

/** What the server side needs of the SDK to decide a request before the HTTP instrumentation sees it. */
export interface HeadDecision {
  sampler: Sampler
  ids: IdGenerator
  /** True for the paths the HTTP instrumentation ignores (probes, scrapes). */
  ignored: (request: IncomingMessage) => boolean
  /** Starts the server span of a sampled request. */
  tracer: Tracer
  /** Runs `fn` with `traceId` as the next root trace id the SDK generates, so its sampler sees the id this decision saw. */
  withTraceId: <R>(traceId: string, fn: () => R) => R
  /** A dropped request answered 5xx: exports it as one span (see kept-failures.ts). */
  keepFailed: (span: Span, request: IncomingMessage, response: ServerResponse, rpc: RPCMetadata, parent: Context) => void
}

/**
 * Wraps the HTTP instrumentation's `Server.prototype.emit` patch: a probe goes through the
 * instrumentation as before (which ignores it); any other request is decided here, and runs the
 * original `emit` under a server span of its own, recorded when sampled, non-recording otherwise.
 */
export function decideIncomingFirst<T extends Instrumentation>(instrumentation: T, head: HeadDecision): T {
  const self = instrumentation as unknown as Wrapping
  const wrap = self._wrap
  self._wrap = (nodule, name, wrapper) =>
    wrap(nodule, name, (original, field) => {
      const instrumented = wrapper(original, field)
      if (name !== 'emit') return instrumented
      return function decidedEmit(this: unknown, ...args: unknown[]) {
        const [event, request, response] = args as [string, IncomingMessage, ServerResponse]
        if (event !== 'request' || head.ignored(request)) return instrumented.apply(this, args)
        const parent = propagation.extract(ROOT_CONTEXT, request.headers)
        const parentSpan = trace.getSpanContext(parent)
        const continued = parentSpan !== undefined && trace.isSpanContextValid(parentSpan)
        const traceId = continued ? parentSpan.traceId : head.ids.generateTraceId()
        const method = request.method ?? 'GET'
        const { decision } = head.sampler.shouldSample(parent, traceId, method, SpanKind.SERVER, {}, [])
        const span =
          decision === SamplingDecision.NOT_RECORD
            ? trace.wrapSpanContext({ traceId, spanId: head.ids.generateSpanId(), traceFlags: TraceFlags.NONE, ...(continued && parentSpan.traceState ? { traceState: parentSpan.traceState } : {}) })
            : startServerSpan(head, parent, continued ? undefined : traceId, method, request)
        // The Fastify hook names it by route (the recorded span's name, a kept failure's name).
        const rpc: RPCMetadata = { type: RPCType.HTTP, span }
        return context.with(setRPCMetadata(trace.setSpan(parent, span), rpc), () => {
          // A body is read in `data`/`end` listeners, which the socket calls outside this context:
          // bound, the handler they start (and every hop it makes) stays in this trace. Without a
          // body, and for the response's listeners (logs, metrics: they do not start spans or
          // hops), binding every listener would be cost for nothing.
          if (request.headers['content-length'] !== undefined || request.headers['transfer-encoding'] !== undefined) context.bind(context.active(), request)
          let ended = false
          const end = (thrown?: unknown) => {
            if (ended) return
            ended = true
            if (span.isRecording()) endServerSpan(span, method, response, rpc, thrown)
            else if (response.statusCode >= 500) head.keepFailed(span, request, response, rpc, parent)
          }
          response.once('close', () => end())
          try {
            return original.apply(this, args)
          } catch (error) {
            end(error)
            throw error
          }
        })
      }
    })
  return instrumentation
}

/** The recorded server span: what the HTTP semantic conventions require of one, nothing a caller sent beyond the path. */
function startServerSpan(head: HeadDecision, parent: Context, rootTraceId: string | undefined, method: string, request: IncomingMessage): Span {
  const options = {
    kind: SpanKind.SERVER,
    attributes: {
      'http.request.method': method,
      'url.path': stripQuery(request.url ?? '/'),
      'url.scheme': 'http',
      'network.protocol.version': request.httpVersion,
    },
  }
  return rootTraceId === undefined ? head.tracer.startSpan(method, options, parent) : head.withTraceId(rootTraceId, () => head.tracer.startSpan(method, options, parent))
}

function endServerSpan(span: Span, method: string, response: ServerResponse, rpc: RPCMetadata, thrown: unknown): void {
  if (rpc.route !== undefined) {
    span.updateName(`${method} ${rpc.route}`)
    span.setAttribute('http.route', rpc.route)
  }
  // A client that hung up before the answer was sent got no status: none is claimed.
  if (thrown === undefined && !response.headersSent) return void span.end()
  const status = thrown === undefined ? response.statusCode : 500
  span.setAttribute('http.response.status_code', status)
  if (status >= 500) {
    // The type only: an error's message is free text (privacy.ts).
    span.setAttribute('error.type', thrown instanceof Error ? thrown.constructor.name : String(status))
    span.setStatus({ code: SpanStatusCode.ERROR })
  }
  span.end()
}
