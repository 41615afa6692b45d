// Logging options shared by every service: structured, carrying the request id, and never
// carrying a secret (credential-looking fields are redacted wherever they appear).
import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { FastifyServerOptions } from 'fastify'
import { activeTraceIds, annotateActiveSpan } from '@hub/telemetry'

const SECRET_FIELDS = [
  'password',
  'secret',
  'apiKey',
  'api_key',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'token',
  'credentials',
  'clientSecret',
  'client_secret',
  'webhookSecret',
  'signingSecret',
  'privateKey',
  'authorization',
]

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-internal-signature"]',
  'req.headers["stripe-signature"]',
  'req.headers["x-square-hmacsha256-signature"]',
  'req.headers["intuit-signature"]',
  'res.headers["set-cookie"]',
  ...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]),
]

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * Request ids. The edge always makes its own (a client's value would otherwise land in the
 * hash-chained audit log); a service keeps the id the gateway forwards, so one id follows a
 * request across services, but only when the peer is a trusted proxy.
 */
export function requestIdGenerator(trustedPeer: ((address: string | undefined) => boolean) | null) {
  return (req: IncomingMessage): string => {
    const incoming = req.headers['x-request-id']
    const id = trustedPeer && typeof incoming === 'string' && REQUEST_ID.test(incoming) && trustedPeer(req.socket?.remoteAddress) ? incoming : randomUUID()
    // Fastify asks for the id while the request's server span is the active one: the id goes on
    // it, so a problem's requestId finds its trace (and the x-trace-id header finds the id).
    annotateActiveSpan({ 'http.request.id': id })
    return id
  }
}

/** Longest path a log line carries: ten requests with 15 KB paths must not write 150 KB of log. */
export const MAX_LOGGED_PATH = 512

export function clipPath<T extends string | null | undefined>(path: T): T {
  return (typeof path === 'string' && path.length > MAX_LOGGED_PATH ? `${path.slice(0, MAX_LOGGED_PATH)}…` : path) as T
}

/** A header value as it may be logged: one string, at most `max` characters. */
export function clipHeader(value: string | string[] | undefined, max = 128): string | undefined {
  if (value === undefined) return undefined
  const text = Array.isArray(value) ? value.join(', ') : value
  return text.length > max ? `${text.slice(0, max)}…` : text
}

export function loggerOptions(level: string, service: string): FastifyServerOptions['logger'] {
  return {
    level,
    base: { service },
    // trace_id/span_id of the active span, so a log line leads to its trace (nothing when untraced).
    mixin: () => activeTraceIds() ?? {},
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      req: (req: { method: string; url: string; id?: string; ip?: string; headers?: Record<string, string | string[] | undefined> }) => ({
        method: req.method,
        // Query strings can carry OAuth codes and states; keep the path only.
        url: clipPath(req.url.split('?')[0]),
        ip: req.ip,
        // What the caller called this request, kept apart from the id we gave it.
        ...(req.headers?.['x-request-id'] !== undefined ? { clientRequestId: clipHeader(req.headers['x-request-id']) } : {}),
      }),
    },
  }
}
