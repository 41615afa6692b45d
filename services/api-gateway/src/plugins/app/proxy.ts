// One @fastify/http-proxy registration per upstream prefix. Bodies are read whole at the edge
// (bounded by BODY_LIMIT_BYTES and the request deadline) and forwarded byte for byte (webhook
// signatures are over the exact bytes): a slow or oversized body then costs the edge one socket
// and never holds an upstream connection, and an oversized chunked body is a 413 instead of a
// half-sent upstream request. Request ids travel both ways; upstream failures become
// problem+json 503/504 instead of leaking transport errors.
import { Readable } from 'node:stream'
import fp from 'fastify-plugin'
import httpProxy from '@fastify/http-proxy'
import { Pool, type Dispatcher } from 'undici'
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
    // The caller hung up and its upstream request was cancelled (see cancellable): nobody to answer.
    if (codes.includes('UND_ERR_ABORTED') && reply.raw.destroyed) return
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

/**
 * Hop-by-hop request headers (RFC 9110 §7.6.1) that reply-from does not already drop: they
 * describe the client's connection, not the request, and undici refuses a request carrying
 * `expect`, `keep-alive` or `upgrade` — which made any such request (a provider's webhook sent with
 * `Expect: 100-continue`) a 502.
 */
const HOP_BY_HOP_REQUEST = ['expect', 'keep-alive', 'upgrade', 'proxy-connection', 'proxy-authorization', 'te', 'trailer']
/** The upstream's connection is not the client's: its keep-alive hint or `connection: close` must not reach the client. */
const HOP_BY_HOP_RESPONSE = ['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'trailer', 'te']

export function withoutHopByHopResponseHeaders<T extends Record<string, unknown>>(headers: T): T {
  const listed = String(headers.connection ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean)
  const kept = { ...headers }
  for (const name of [...HOP_BY_HOP_RESPONSE, ...listed]) delete kept[name]
  return kept
}

/** The header that names a proxied call to the cancellable pool; never sent upstream. */
const CALL_HEADER = 'x-gateway-call'

/**
 * Upstream calls are cancelled when their caller hangs up before the answer: otherwise a client
 * could free its in-flight slot at once by aborting and keep any number of upstream requests (and
 * pooled upstream sockets) busy. reply-from gives the pool no signal, so each call carries a
 * private header naming its caller's abort signal, which the pool takes off before sending.
 */
function cancellable() {
  const signals = new Map<string, AbortSignal>()
  const calls = new WeakMap<object, string>()
  let next = 0
  return {
    /** onRequest: one controller per exchange, aborted if the client's side closes before the answer ends. */
    track(request: object, reply: FastifyReply): void {
      const call = String(++next)
      const controller = new AbortController()
      signals.set(call, controller.signal)
      calls.set(request, call)
      reply.raw.once('close', () => {
        signals.delete(call)
        if (!reply.raw.writableFinished) controller.abort()
      })
    },
    callOf: (request: object): string | undefined => calls.get(request),
    pool(url: string, options: Pool.Options) {
      const pool = new Pool(url, options)
      return {
        request(opts: Dispatcher.RequestOptions & { headers: Record<string, string | string[] | undefined> }, callback: (err: Error | null, data: Dispatcher.ResponseData) => void): void {
          const { [CALL_HEADER]: call, ...headers } = opts.headers
          const signal = typeof call === 'string' ? signals.get(call) : undefined
          return pool.request({ ...opts, headers, ...(signal ? { signal } : {}) }, callback)
        },
        close: () => pool.close(),
        destroy: () => pool.destroy(),
      }
    },
  }
}
type Cancellable = ReturnType<typeof cancellable>

async function register(fastify: FastifyInstance, config: GatewayConfig, calls: Cancellable, upstream: { name: string; url: string }, prefix: string, extra: { auth?: false; routes?: string[]; httpMethods?: string[] } = {}) {
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
    // reply-from takes a ready pool as it is (its own options are then unused).
    undici: calls.pool(upstream.url, { connections: config.UPSTREAM_CONNECTIONS, pipelining: 1, headersTimeout: config.UPSTREAM_TIMEOUT_MS, bodyTimeout: config.UPSTREAM_TIMEOUT_MS, keepAliveTimeout: 30_000 }) as never,
    replyOptions: {
      // A caller's trace context stops here: the upstream's parent is the gateway's own span, which
      // the undici instrumentation injects (with tracing off, none is sent).
      rewriteRequestHeaders: (request, { traceparent: _parent, tracestate: _state, ...headers }) => {
        const rewritten: Record<string, string | string[] | undefined> = { ...headers, 'x-request-id': String(request.id), 'x-forwarded-for': request.ip }
        // A client's own x-gateway-call is never believed: only the edge names a call.
        for (const name of [...HOP_BY_HOP_REQUEST, CALL_HEADER]) delete rewritten[name]
        const call = calls.callOf(request)
        if (call) rewritten[CALL_HEADER] = call
        const length = bodyLengths.get(request)
        if (length !== undefined) {
          rewritten['content-length'] = String(length)
          delete rewritten['transfer-encoding']
        }
        return rewritten
      },
      rewriteHeaders: (headers) => withoutHopByHopResponseHeaders(headers),
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
  const calls = cancellable()
  fastify.addHook('onRequest', async (request, reply) => calls.track(request, reply))
  const upstreams = upstreamsFrom(opts.config)
  const integration = upstreams.find((u) => u.name === 'integration-service')
  if (integration) {
    // Providers sign webhooks themselves; the browser returns from OAuth without our token.
    await register(fastify, opts.config, calls, integration, '/api/v1/integrations/webhooks', { auth: false })
    await register(fastify, opts.config, calls, integration, '/api/v1/integrations/oauth', { auth: false, routes: ['/:provider/callback'], httpMethods: ['GET'] })
    await register(fastify, opts.config, calls, integration, '/api/v1/integrations/oauth')
    // The event catalogue is schemas only, for developers who hold no token yet.
    await register(fastify, opts.config, calls, integration, '/api/v1/integrations/events/catalogue', { auth: false, routes: ['/'], httpMethods: ['GET'] })
  }
  const compliance = upstreams.find((u) => u.name === 'compliance-service')
  if (compliance) {
    // The audit digests' public keys are for outside auditors, who hold no token of ours.
    await register(fastify, opts.config, calls, compliance, '/api/v1/compliance/audit-log/signing-keys', { auth: false, routes: ['/'], httpMethods: ['GET'] })
  }
  for (const upstream of upstreams) {
    for (const prefix of upstream.prefixes) await register(fastify, opts.config, calls, upstream, prefix)
  }
}

export default fp(
  async (fastify, opts: { config: GatewayConfig }) => {
    // Encapsulated: the buffering parser applies to the proxied routes only.
    await fastify.register(proxies, opts)
  },
  { name: 'gateway-proxy', dependencies: ['@hub/service-kit', 'gateway-rate-limit'] },
)
