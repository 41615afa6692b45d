// Wires webhook intake and the dispatch of stored events to the critical queue (API process only;
// the worker processes and relays the inbox, see sync/index.ts). The dispatch is the sync engine's
// enqueue, taken as an explicit dependency.
import fp from 'fastify-plugin'
import { createWebhookDispatch } from './webhook-dispatch.ts'
import { createWebhookInboxRepository } from './webhook-inbox-repository.ts'
import { createWebhookIntake, type StoredWebhook, type WebhookIntake } from './webhook-intake.ts'
import { guardInboxWrites } from '../subject-data/subject-guard.ts'

declare module 'fastify' {
  interface FastifyInstance {
    webhookIntake: WebhookIntake
    /** Hands stored events to the queue; never throws (the relay covers what misses Redis). */
    webhookDispatch: (stored: StoredWebhook[]) => Promise<void>
  }
}

export default fp(
  async (fastify, opts: { publicUrl: string; quickbooksVerifier?: string | undefined }) => {
    fastify.decorate(
      'webhookIntake',
      createWebhookIntake({
        db: fastify.db,
        connections: fastify.connections,
        // A webhook about an erased person is stored redacted (data-subject requests).
        inbox: guardInboxWrites(createWebhookInboxRepository(), fastify.subjectGuard),
        vault: fastify.vault,
        registry: fastify.providers,
        securityEvents: fastify.securityEvents,
        publicUrl: opts.publicUrl,
        quickbooksVerifier: opts.quickbooksVerifier,
        logger: fastify.log,
      }),
    )
    fastify.decorate('webhookDispatch', createWebhookDispatch({ enqueueMany: fastify.syncEngine.enqueueWebhooks, logger: fastify.log.child({ component: 'webhook-dispatch' }) }))
  },
  { name: 'webhooks', dependencies: ['connections', 'sync-engine', 'subject-data'] },
)
