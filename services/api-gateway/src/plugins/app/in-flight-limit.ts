// A cap on the requests one caller has in flight at once on this replica. The rate limit counts
// requests per window and cannot see slow ones: a few dozen connections trickling their bodies
// would hold the edge's sockets and memory for everyone while spending almost no budget.
import fp from 'fastify-plugin'
import { sendProblem } from '@hub/service-kit'

export default fp(
  async (fastify, opts: { maxPerClient: number }) => {
    const inFlight = new Map<string, number>()
    // Runs after the JWT hook, so a caller is its user (per tenant) when the token is good and
    // its IP otherwise; a bad token cannot borrow someone else's allowance.
    fastify.addHook('onRequest', async (request, reply) => {
      if (!request.url.startsWith('/api/')) return
      const key = request.principal ? `user:${request.principal.tenantId}:${request.principal.userId}` : `ip:${request.ip}`
      const current = inFlight.get(key) ?? 0
      if (current >= opts.maxPerClient) {
        reply.header('retry-after', '1')
        return sendProblem(reply, { title: 'Too Many Requests', status: 429, code: 'TOO_MANY_IN_FLIGHT', detail: `At most ${opts.maxPerClient} requests per caller may be in progress at once.` })
      }
      inFlight.set(key, current + 1)
      // 'close' fires once however the exchange ends: answered, timed out or aborted.
      reply.raw.once('close', () => {
        const left = (inFlight.get(key) ?? 1) - 1
        if (left <= 0) inFlight.delete(key)
        else inFlight.set(key, left)
      })
    })
  },
  { name: 'gateway-in-flight-limit', dependencies: ['@hub/service-kit'] },
)
