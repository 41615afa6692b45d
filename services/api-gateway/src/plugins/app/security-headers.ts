// Helmet's security headers on every response of the edge. The middleware is built once: the
// @fastify/helmet wrapper builds a new one on every request (and with it re-parses the
// Content-Security-Policy directives), which a profile of the gateway under load put at about 3 %
// of its CPU. The headers are the same for every request, so nothing per request is needed but
// setting them. Routes that need another policy (the console's CSP) set their own header, which
// replaces this one when the reply is written.
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

export default fp(
  async (fastify, opts: { helmet?: HelmetOptions }) => {
    const apply = helmet(opts.helmet)
    fastify.addHook('onRequest', function securityHeaders(request, reply, done) {
      apply(request.raw, reply.raw, (error) => done(error instanceof Error ? error : undefined))
    })
  },
  { name: 'gateway-security-headers', fastify: '5.x' },
)
