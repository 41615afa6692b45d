// Tenant webhooks on the instance. Both processes register it: the API process manages endpoints
// and enqueues tests and replays; the worker process also calls `startOutboundWebhookProcessing`,
// which runs the delivery queue (its own concurrency) and the sweeper.
//
// fastify.outboundWebhooks (OutboundWebhookService):
//   fanOut(event: HubEvent) → Promise<{ messages }>   the handler of the bus's `tenant-webhooks` consumer
//     group: one message per matching endpoint, stored and enqueued; idempotent (same event twice = once).
//   setEndpointDisabledSink(sink: (event: HubEvent) => Promise<void>)   where integration.endpoint.disabled
//     goes after commit (default: fanOut, so the tenant's other endpoints hear it).
//   the API's operations (createEndpoint, rotateSecret, sendTest, listMessages, replay, …): see the route file.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { IntegrationServiceConfig } from '../../../config.ts'
import { assertSealedKeyVersions } from '../secrets/sealed-secrets-rotation.ts'
import { createDeliverer } from './delivery.ts'
import { createOutboundWebhookQueue, type OutboundWebhookQueue } from './outbound-webhook-queue.ts'
import { createOutboundWebhookRepository, WEBHOOK_ENDPOINT_SECRETS } from './outbound-webhook-repository.ts'
import { createOutboundWebhookService, type OutboundWebhookService } from './outbound-webhook-service.ts'
import { parseRetrySchedule } from './retry-schedule.ts'
import { createUrlGuard, type Resolver } from './url-guard.ts'

export type OutboundWebhookConfig = Pick<
  IntegrationServiceConfig,
  | 'REDIS_URL'
  | 'OUTBOUND_WEBHOOK_CONCURRENCY'
  | 'OUTBOUND_WEBHOOK_TIMEOUT_MS'
  | 'OUTBOUND_WEBHOOK_RETRY_SCHEDULE'
  | 'OUTBOUND_WEBHOOK_DISABLE_AFTER_MS'
  | 'OUTBOUND_WEBHOOK_DISABLE_AFTER_FAILURES'
  | 'OUTBOUND_WEBHOOK_ALLOWED_HOSTS'
  | 'OUTBOUND_WEBHOOK_SWEEP_INTERVAL_MS'
>

export interface OutboundWebhookProcessing {
  stop(): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    outboundWebhooks: OutboundWebhookService
    outboundWebhookInternals: { queue: OutboundWebhookQueue; start(): OutboundWebhookProcessing }
  }
}

async function outboundWebhooksPlugin(fastify: FastifyInstance, opts: { config: OutboundWebhookConfig; resolver?: Resolver }): Promise<void> {
  const { config } = opts
  const logger = fastify.log.child({ component: 'outbound-webhooks' })
  const guard = createUrlGuard({ allowedHosts: config.OUTBOUND_WEBHOOK_ALLOWED_HOSTS.split(','), ...(opts.resolver ? { resolver: opts.resolver } : {}) })
  const queue = createOutboundWebhookQueue({ redisUrl: config.REDIS_URL, prefix: fastify.redisPrefix })
  const service = createOutboundWebhookService({
    db: fastify.db,
    repo: createOutboundWebhookRepository(),
    ring: fastify.vault.ring,
    guard,
    deliver: createDeliverer({ guard, timeoutMs: config.OUTBOUND_WEBHOOK_TIMEOUT_MS }),
    queue,
    audit: fastify.auditOutbox,
    securityEvents: fastify.securityEvents,
    rules: {
      schedule: parseRetrySchedule(config.OUTBOUND_WEBHOOK_RETRY_SCHEDULE),
      disableAfterMs: config.OUTBOUND_WEBHOOK_DISABLE_AFTER_MS,
      disableAfterFailures: config.OUTBOUND_WEBHOOK_DISABLE_AFTER_FAILURES,
      leaseMs: config.OUTBOUND_WEBHOOK_TIMEOUT_MS + 10_000,
    },
    logger,
  })
  fastify.decorate('outboundWebhooks', service)

  let running: OutboundWebhookProcessing | null = null
  fastify.decorate('outboundWebhookInternals', {
    queue,
    start() {
      if (running) return running
      void queue.queue.process(config.OUTBOUND_WEBHOOK_CONCURRENCY, (job) => service.processDelivery(job.data))
      let sweeping: Promise<unknown> | null = null
      const sweepNow = () => {
        if (sweeping) return
        sweeping = service
          .sweep()
          .catch((err: unknown) => logger.warn({ err: { message: (err as Error).message } }, 'outbound webhook sweep failed'))
          .finally(() => {
            sweeping = null
          })
      }
      sweepNow()
      const timer = setInterval(sweepNow, config.OUTBOUND_WEBHOOK_SWEEP_INTERVAL_MS)
      timer.unref()
      running = {
        async stop() {
          clearInterval(timer)
          await sweeping
          // Running deliveries finish (each is bounded by the timeout) before the queue closes.
          await queue.queue.close()
        },
      }
      return running
    },
  })

  // Refuse to start when an endpoint secret was sealed with a key no longer in the ring.
  fastify.addHook('onReady', async () => assertSealedKeyVersions(fastify.db, fastify.vault.ring, WEBHOOK_ENDPOINT_SECRETS))
  fastify.addReadinessCheck('webhook-delivery-queue', async () => {
    await queue.queue.client.ping()
  })
  fastify.addHook('onClose', async () => {
    if (running) await running.stop()
    await queue.close()
  })
}

export default fp(outboundWebhooksPlugin, { name: 'outbound-webhooks', dependencies: ['@hub/service-kit', 'connections'] })

export function startOutboundWebhookProcessing(fastify: FastifyInstance): OutboundWebhookProcessing {
  return fastify.outboundWebhookInternals.start()
}
