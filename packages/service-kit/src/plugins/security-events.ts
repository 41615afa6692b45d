// Where a service's security events go. By default they are logged; services hand in a reporter
// that ships them to compliance-service. Reporting never blocks or fails the refused request.
import fp from 'fastify-plugin'
import type { SecurityEventReporter } from '@hub/contracts'
import { clipPath } from '../logger.ts'

declare module 'fastify' {
  interface FastifyInstance {
    securityEvents: SecurityEventReporter
  }
}

export default fp(
  async (fastify, opts: { reporter?: SecurityEventReporter | undefined }) => {
    const reporter: SecurityEventReporter = opts.reporter ?? {
      report: (event) => fastify.log.warn({ securityEvent: { ...event, path: clipPath(event.path) } }, 'security event'),
    }
    fastify.decorate('securityEvents', reporter)
  },
  { name: '@hub/security-events', fastify: '5.x' },
)
