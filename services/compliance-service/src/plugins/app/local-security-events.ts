// compliance-service keeps security events itself: its own refusals go straight to its table
// (the one every other service's relay delivers to) instead of over HTTP to itself. The kit's
// reporter in front of it folds repeats and retries a failed write on its next tick.
import type { FastifyInstance } from 'fastify'
import type { SecurityEventSink } from '@hub/internal-auth'
import { createSecurityEventRepository } from './security-event-repository.ts'

export function localSecurityEventSink(app: FastifyInstance): SecurityEventSink {
  const repository = createSecurityEventRepository()
  return {
    async write(events) {
      // Refusals can happen before the database plugin is registered; they wait for it.
      if (!app.hasDecorator('db')) throw new Error('the database is not ready yet')
      await app.db.withSystemScope((trx) => repository.insertMany(trx, events))
    },
  }
}
