// One retry for an idempotent request whose pooled keep-alive socket turned out to be closed (the
// upstream restarted or is draining and hung up just as the request went out): the request never
// reached a handler, so sending it again on a fresh connection is safe. Only without a body — the
// gateway streams bodies through untouched, and a half-sent stream cannot be replayed.
import type { FastifyHttpProxyOptions } from '@fastify/http-proxy'

type RetryDetails = Parameters<NonNullable<NonNullable<FastifyHttpProxyOptions['replyOptions']>['retryDelay']>>[0]

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])
const CLOSED_SOCKET = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE'])

function codesOf(error: unknown): string[] {
  const codes: string[] = []
  for (let current = error as { code?: string; cause?: unknown } | undefined; current; current = current.cause as typeof current) {
    if (current.code) codes.push(current.code)
  }
  return codes
}

export function retryOnClosedSocket(details: RetryDetails): number | null {
  // reply-from hands over its own request description and the upstream response, not Fastify's.
  const request = details.req as unknown as { method?: string; headers?: Record<string, string | string[] | undefined> }
  const response = details.res as unknown
  if (details.attempt > 0 || response) return null
  if (!IDEMPOTENT.has(String(request.method).toUpperCase())) return null
  const headers = request.headers ?? {}
  const length = headers['content-length']
  if ((length !== undefined && length !== '0') || headers['transfer-encoding'] !== undefined) return null
  if (!codesOf(details.err).some((code) => CLOSED_SOCKET.has(code))) return null
  // reply-from reads 0 as "do not retry".
  return 1
}
