// Wires webhook intake, and the dispatch of stored events to the critical queue.
import fp from 'fastify-plugin'
import { createWebhookIntake, type StoredWebhook, type WebhookIntake } from './webhook-intake.ts'

declare module 'fastify' {
  interface FastifyInstance {
    webhookIntake: WebhookIntake
    /** Hands stored events to the queue; replaced by the sync engine, never throws. */
    webhookDispatch: (stored: StoredWebhook[]) => Promise<void>
  }
}

export default fp(
  async (fastify, opts: { publicUrl: string; quickbooksVerifier?: string | undefined }) => {
    fastify.decorate('webhookIntake', createWebhookIntake({ db: fastify.db, connections: fastify.connections, vault: fastify.vault, registry: fastify.providers, securityEvents: fastify.securityEvents, publicUrl: opts.publicUrl, quickbooksVerifier: opts.quickbooksVerifier }))
    // Until the sync engine plugs in its own, rows wait in the inbox for the relay.
    fastify.decorate('webhookDispatch', async () => undefined)
  },
  { name: 'webhooks', dependencies: ['connections'] },
)
