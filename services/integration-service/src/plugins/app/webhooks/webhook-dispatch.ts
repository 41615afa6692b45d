// Hands stored webhook events to the critical queue right after the intake answered. It never
// throws: an event that misses Redis stays in the inbox for the worker's relay.
import type { FastifyBaseLogger } from 'fastify'
import type { StoredWebhook } from './webhook-intake.ts'

export interface WebhookDispatch {
  /** Queues processing of one stored event; idempotent per inbox row. */
  enqueue: (item: StoredWebhook) => Promise<unknown>
}

export function createWebhookDispatch(deps: WebhookDispatch & { logger: FastifyBaseLogger }): (stored: StoredWebhook[]) => Promise<void> {
  return async (stored) => {
    for (const item of stored) {
      await deps.enqueue(item).catch((err: unknown) => deps.logger.warn({ err, inboxId: item.inboxId }, 'webhook event left for the relay'))
    }
  }
}
