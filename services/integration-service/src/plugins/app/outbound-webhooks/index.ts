// Tenant webhooks on the instance. Both processes register it: the API process manages endpoints
// and enqueues tests and replays; the worker process also calls `startOutboundWebhookProcessing`,
// which consumes the event bus (group `tenant-webhooks`, every family, handler `fanOut`), runs the
// delivery queue (its own concurrency) and the sweeper.
//
// fastify.outboundWebhooks (OutboundWebhookService):
//   fanOut(event: HubEvent) → Promise<{ messages }>   the handler of the bus's `tenant-webhooks` consumer
//     group: one message per matching endpoint, stored and enqueued; idempotent (same event twice = once).
//   the API's operations (createEndpoint, rotateSecret, sendTest, listMessages, replay, …): see the route file.
import { hostname } from 'node:os'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { HUB_EVENT_FAMILIES } from '@hub/contracts'
import { keepConsuming } from '@hub/event-bus'
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

/** The bus's consumer group of tenant webhooks: every event of every family goes to fanOut. */
export const TENANT_WEBHOOKS_GROUP = 'tenant-webhooks'

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
      // Acknowledged once fanOut resolved (the messages are stored): a crash before that brings the
      // event back, and fanOut of the same event again stores and sends nothing new.
      const consumer = keepConsuming({
        redis: fastify.redis,
        keyPrefix: fastify.redisPrefix,
        families: HUB_EVENT_FAMILIES,
        group: TENANT_WEBHOOKS_GROUP,
        consumer: `${hostname()}-${process.pid}`,
        registry: fastify.metrics.registry,
        logger,
        handle: async (event) => {
          await service.fanOut(event)
        },
      })
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
          // No new messages first: the entry in hand is fanned out and acknowledged.
          await consumer.stop()
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

export default fp(outboundWebhooksPlugin, { name: 'outbound-webhooks', dependencies: ['@hub/service-kit', 'connections', 'hub-events'] })

export function startOutboundWebhookProcessing(fastify: FastifyInstance): OutboundWebhookProcessing {
  return fastify.outboundWebhookInternals.start()
}
