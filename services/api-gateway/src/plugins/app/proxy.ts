// One @fastify/http-proxy registration per upstream prefix. Bodies pass through as raw streams
// (webhook signatures are over the exact bytes); request ids travel both ways; upstream failures
// become problem+json 503/504 instead of leaking transport errors.
import fp from 'fastify-plugin'
import httpProxy from '@fastify/http-proxy'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { rejectDeferredAuth, sendProblem } from '@hub/service-kit'
import { upstreamsFrom } from './upstreams.ts'
import { retryOnClosedSocket } from './upstream-retry.ts'
import type { GatewayConfig } from '../../config.ts'

const UNAVAILABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ECONNRESET', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'ERR_HTTP2_STREAM_CANCEL', 'FST_REPLY_FROM_SERVICE_UNAVAILABLE'])
const TIMEOUT = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'FST_REPLY_FROM_GATEWAY_TIMEOUT'])

function codesOf(error: unknown): string[] {
  const codes: string[] = []
  for (let current = error as { code?: string; cause?: unknown } | undefined; current; current = current.cause as typeof current) {
    if (current.code) codes.push(current.code)
  }
  return codes
}

export function upstreamErrorHandler(upstream: string) {
  return (reply: FastifyReply, { error }: { error: Error }): void => {
    const codes = codesOf(error)
    if (codes.some((code) => TIMEOUT.has(code)) || error.name === 'TimeoutError') {
      sendProblem(reply, { title: 'Gateway Timeout', status: 504, code: 'UPSTREAM_TIMEOUT', detail: `${upstream} did not answer in time.` })
    } else if (codes.some((code) => UNAVAILABLE.has(code))) {
      sendProblem(reply, { title: 'Service Unavailable', status: 503, code: 'UPSTREAM_UNAVAILABLE', detail: `${upstream} is unavailable; retry shortly.` })
    } else {
      reply.request.log.error({ upstream, codes }, 'upstream error')
      sendProblem(reply, { title: 'Bad Gateway', status: 502, code: 'UPSTREAM_ERROR', detail: `${upstream} answered with an error.` })
    }
  }
}

async function register(fastify: FastifyInstance, config: GatewayConfig, upstream: { name: string; url: string }, prefix: string, extra: { auth?: false; routes?: string[]; httpMethods?: string[] } = {}) {
  await fastify.register(httpProxy, {
    upstream: upstream.url,
    prefix,
    rewritePrefix: prefix,
    ...(extra.routes ? { routes: extra.routes } : {}),
    ...(extra.httpMethods ? { httpMethods: extra.httpMethods } : {}),
    // Runs after the (route-level) rate limiter, so refused tokens still spend the IP's budget.
    preHandler: rejectDeferredAuth,
    config: extra.auth === false ? { auth: false } : {},
    undici: { connections: 128, pipelining: 1, headersTimeout: config.UPSTREAM_TIMEOUT_MS, bodyTimeout: config.UPSTREAM_TIMEOUT_MS, keepAliveTimeout: 30_000 },
    replyOptions: {
      // A caller's trace context stops here: the upstream's parent is the gateway's own span, which
      // the undici instrumentation injects (with tracing off, none is sent).
      rewriteRequestHeaders: (request, { traceparent: _parent, tracestate: _state, ...headers }) => ({ ...headers, 'x-request-id': String(request.id), 'x-forwarded-for': request.ip }),
      // reply-from types the reply for HTTP/2 servers too; this gateway only serves HTTP/1.1.
      onError: upstreamErrorHandler(upstream.name) as never,
      retryDelay: retryOnClosedSocket,
    },
  })
}

export default fp(
  async (fastify, opts: { config: GatewayConfig }) => {
    const upstreams = upstreamsFrom(opts.config)
    const integration = upstreams.find((u) => u.name === 'integration-service')
    if (integration) {
      // Providers sign webhooks themselves; the browser returns from OAuth without our token.
      await register(fastify, opts.config, integration, '/api/v1/integrations/webhooks', { auth: false })
      await register(fastify, opts.config, integration, '/api/v1/integrations/oauth', { auth: false, routes: ['/:provider/callback'], httpMethods: ['GET'] })
      await register(fastify, opts.config, integration, '/api/v1/integrations/oauth')
    }
    for (const upstream of upstreams) {
      for (const prefix of upstream.prefixes) await register(fastify, opts.config, upstream, prefix)
    }
  },
  { name: 'gateway-proxy', dependencies: ['@hub/service-kit', 'gateway-rate-limit'] },
)
