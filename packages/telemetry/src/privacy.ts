// Keeps secrets and personal data out of every exported span, whatever an instrumentation records:
// query strings (OAuth codes and states, signed links) are cut from URLs, client addresses and
// headers are dropped, and Redis statements are reduced to the command name by the instrumentation
// options in sdk.ts. Runs when a span starts and again just before it ends, so attributes added
// during the span are covered too.
import type { Context } from '@opentelemetry/api'
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace'

/** Attributes holding a URL or a target whose query string is cut. */
const URL_KEYS = ['url.full', 'url.path', 'http.url', 'http.target', 'url.original']
/** Attributes dropped outright: query strings, client addresses, user agents. */
const DROPPED_KEYS = ['url.query', 'client.address', 'http.client_ip', 'net.sock.peer.addr', 'net.peer.ip', 'network.peer.address', 'user_agent.original', 'http.user_agent']
/** Any captured header (none are configured; this is the net under that choice). */
const HEADER_KEY = /^http\.(request|response)\.header\./

export function stripQuery(value: string): string {
  const cut = value.search(/[?#]/)
  return cut === -1 ? value : value.slice(0, cut)
}

function scrubAttributes(attributes: Record<string, unknown>): void {
  for (const key of Object.keys(attributes)) {
    if (DROPPED_KEYS.includes(key) || HEADER_KEY.test(key)) delete attributes[key]
    else if (URL_KEYS.includes(key) && typeof attributes[key] === 'string') attributes[key] = stripQuery(attributes[key])
  }
}

function scrub(span: Span): void {
  scrubAttributes(span.attributes as Record<string, unknown>)
}

/**
 * Error messages are free text (a Postgres unique violation quotes the duplicated value, an SDK
 * error can quote the request): only the error's type is exported.
 */
function scrubErrors(span: Span): void {
  for (const event of span.events) {
    const attributes = event.attributes as Record<string, unknown> | undefined
    if (!attributes) continue
    delete attributes['exception.message']
    delete attributes['exception.stacktrace']
    scrubAttributes(attributes)
  }
  const status = span.status as { code: number; message?: string }
  if (status.message !== undefined) delete status.message
}

export class PrivacySpanProcessor implements SpanProcessor {
  onStart(span: Span, _parent: Context): void {
    scrub(span)
  }

  onEnding(span: Span): void {
    scrub(span)
    scrubErrors(span)
  }

  onEnd(_span: ReadableSpan): void {}

  forceFlush(): Promise<void> {
    return Promise.resolve()
  }

  shutdown(): Promise<void> {
    return Promise.resolve()
  }
}
