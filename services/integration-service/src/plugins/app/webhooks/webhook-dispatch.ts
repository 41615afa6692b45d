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
/**
 * Events waiting for a hand-over at most. While Redis is down a hand-over waits for it, and every
 * event stored meanwhile would wait in memory behind it: past this many they are left to the
 * worker's relay, which finds them in the inbox (they are stored already).
 */
export const MAX_PENDING = 10_000

export function createWebhookDispatch(deps: { enqueueMany: (items: StoredWebhook[]) => Promise<unknown>; logger: FastifyBaseLogger; maxPending?: number }): (stored: StoredWebhook[]) => Promise<void> {
  const maxPending = deps.maxPending ?? MAX_PENDING
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
    const room = Math.max(0, maxPending - pending.length)
    if (stored.length > room) deps.logger.warn({ events: stored.length - room, pending: pending.length }, 'webhook events left for the relay: the hand-over is backed up')
    pending.push(...stored.slice(0, room))
    running ??= drain()
    return running
  }
}
