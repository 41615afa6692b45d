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

/** Keeps a caller's request id when it is sane, so one id follows a request across services. */
export function requestIdFrom(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id']
  const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID()
  // Fastify asks for the id while the request's server span is the active one: the id goes on
  // it, so a problem's requestId finds its trace (and the x-trace-id header finds the id).
  annotateActiveSpan({ 'http.request.id': id })
  return id
}

export function loggerOptions(level: string, service: string): FastifyServerOptions['logger'] {
  return {
    level,
    base: { service },
    // trace_id/span_id of the active span, so a log line leads to its trace (nothing when untraced).
    mixin: () => activeTraceIds() ?? {},
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      req: (req: { method: string; url: string; id?: string; ip?: string }) => ({
        method: req.method,
        // Query strings can carry OAuth codes and states; keep the path only.
        url: req.url.split('?')[0],
        ip: req.ip,
      }),
    },
  }
}
