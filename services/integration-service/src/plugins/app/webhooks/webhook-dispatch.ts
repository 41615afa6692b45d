// Hands stored webhook events to the critical queue right after the intake answered. It never
// throws: an event that misses Redis stays in the inbox for the worker's relay. Events stored
// while a hand-over is under way wait for it and go together in the next (one bulk add and one
// update per tenant instead of a queue add and a transaction each), so under a burst the cost per
// event falls instead of queueing behind the acknowledgements.
import type { FastifyBaseLogger } from 'fastify'
import type { StoredWebhook } from './webhook-intake.ts'

export interface WebhookDispatch {
  /** Queues processing of one stored event; idempotent per inbox row. */
  enqueue: (item: StoredWebhook) => Promise<unknown>
}

/** Events handed over in one go at most. */
const MAX_BATCH = 500

export function createWebhookDispatch(deps: { enqueueMany: (items: StoredWebhook[]) => Promise<unknown>; logger: FastifyBaseLogger }): (stored: StoredWebhook[]) => Promise<void> {
  let pending: StoredWebhook[] = []
  let running: Promise<void> | null = null
  const drain = async (): Promise<void> => {
    while (pending.length > 0) {
      const batch = pending.slice(0, MAX_BATCH)
      pending = pending.slice(MAX_BATCH)
      await deps.enqueueMany(batch).catch((err: unknown) => deps.logger.warn({ err, events: batch.length }, 'webhook events left for the relay'))
    }
    running = null
  }
  return (stored) => {
    pending.push(...stored)
    running ??= drain()
    return running
  }
}
