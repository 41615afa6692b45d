// compliance-service keeps security events itself: its own refusals go straight to its table
// instead of over HTTP to itself. Writes happen after the answer and never fail a request.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { SecurityEventReporter } from '@hub/contracts'
import { createSecurityEventRepository } from './security-event-repository.ts'

export function localSecurityEventReporter(app: FastifyInstance): SecurityEventReporter {
  const repository = createSecurityEventRepository()
  return {
    report(event) {
      // Refusals can happen before the database plugin is registered; nothing to store then.
      if (!app.hasDecorator('db')) return
      const full = { ...event, id: event.id ?? randomUUID(), occurredAt: event.occurredAt ?? new Date().toISOString() }
      setImmediate(() => {
        app.db
          .withSystemScope((trx) => repository.insertMany(trx, [full]))
          .catch((error: Error) => app.log.warn({ err: { message: error.message } }, 'could not store a security event'))
      })
    },
  }
}
