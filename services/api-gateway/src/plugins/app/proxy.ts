// One @fastify/http-proxy registration per upstream prefix. Bodies are read whole at the edge
// (bounded by BODY_LIMIT_BYTES and the request deadline) and forwarded byte for byte (webhook
// signatures are over the exact bytes): a slow or oversized body then costs the edge one socket
// and never holds an upstream connection, and an oversized chunked body is a 413 instead of a
// half-sent upstream request. Request ids travel both ways; upstream failures become
// problem+json 503/504 instead of leaking transport errors.
import { Readable } from 'node:stream'
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

/** Length of each buffered body, so the upstream gets a Content-Length even for a chunked request. */
const bodyLengths = new WeakMap<object, number>()

async function register(fastify: FastifyInstance, config: GatewayConfig, upstream: { name: string; url: string }, prefix: string, extra: { auth?: false; routes?: string[]; httpMethods?: string[] } = {}) {
  await fastify.register(httpProxy, {
    upstream: upstream.url,
    prefix,
    rewritePrefix: prefix,
    // The scope's buffering parser below replaces the proxy's pass-through one.
    proxyPayloads: false,
    ...(extra.routes ? { routes: extra.routes } : {}),
    ...(extra.httpMethods ? { httpMethods: extra.httpMethods } : {}),
    // Runs after the (route-level) rate limiter, so refused tokens still spend the IP's budget.
    preHandler: rejectDeferredAuth,
    config: extra.auth === false ? { auth: false } : {},
    // Each registration has its own pool, so webhooks, OAuth and each API prefix cannot exhaust
    // one another's sockets; with bodies buffered, a socket is held only while the upstream works.
    undici: { connections: config.UPSTREAM_CONNECTIONS, pipelining: 1, headersTimeout: config.UPSTREAM_TIMEOUT_MS, bodyTimeout: config.UPSTREAM_TIMEOUT_MS, keepAliveTimeout: 30_000 },
    replyOptions: {
      // A caller's trace context stops here: the upstream's parent is the gateway's own span, which
      // the undici instrumentation injects (with tracing off, none is sent).
      rewriteRequestHeaders: (request, { traceparent: _parent, tracestate: _state, ...headers }) => {
        const rewritten: Record<string, string | string[] | undefined> = { ...headers, 'x-request-id': String(request.id), 'x-forwarded-for': request.ip }
        const length = bodyLengths.get(request)
        if (length !== undefined) {
          rewritten['content-length'] = String(length)
          delete rewritten['transfer-encoding']
        }
        return rewritten
      },
      // reply-from types the reply for HTTP/2 servers too; this gateway only serves HTTP/1.1.
      onError: upstreamErrorHandler(upstream.name) as never,
      retryDelay: retryOnClosedSocket,
    },
  })
}

async function proxies(fastify: FastifyInstance, opts: { config: GatewayConfig }): Promise<void> {
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: opts.config.BODY_LIMIT_BYTES }, (request, body, done) => {
    const bytes = body as Buffer
    bodyLengths.set(request, bytes.length)
    // A stream, so reply-from forwards the bytes as they are instead of re-encoding "JSON".
    done(null, Readable.from([bytes], { objectMode: false }))
  })
  const upstreams = upstreamsFrom(opts.config)
  const integration = upstreams.find((u) => u.name === 'integration-service')
  if (integration) {
    // Providers sign webhooks themselves; the browser returns from OAuth without our token.
    await register(fastify, opts.config, integration, '/api/v1/integrations/webhooks', { auth: false })
    await register(fastify, opts.config, integration, '/api/v1/integrations/oauth', { auth: false, routes: ['/:provider/callback'], httpMethods: ['GET'] })
    await register(fastify, opts.config, integration, '/api/v1/integrations/oauth')
    // The event catalogue is schemas only, for developers who hold no token yet.
    await register(fastify, opts.config, integration, '/api/v1/integrations/events/catalogue', { auth: false, routes: ['/'], httpMethods: ['GET'] })
  }
  const compliance = upstreams.find((u) => u.name === 'compliance-service')
  if (compliance) {
    // The audit digests' public keys are for outside auditors, who hold no token of ours.
    await register(fastify, opts.config, compliance, '/api/v1/compliance/audit-log/signing-keys', { auth: false, routes: ['/'], httpMethods: ['GET'] })
  }
  for (const upstream of upstreams) {
    for (const prefix of upstream.prefixes) await register(fastify, opts.config, upstream, prefix)
  }
}

export default fp(
  async (fastify, opts: { config: GatewayConfig }) => {
    // Encapsulated: the buffering parser applies to the proxied routes only.
    await fastify.register(proxies, opts)
  },
  { name: 'gateway-proxy', dependencies: ['@hub/service-kit', 'gateway-rate-limit'] },
)
