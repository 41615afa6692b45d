// The hub's events on the way out: the outbox repository (emitters call `publishEvent` with their
// own transaction) and the relay to Redis Streams. Both the API and the worker run the relay; an
// advisory lock lets one publish at a time, so either alone keeps the streams fed.
import fp from 'fastify-plugin'
import { Counter, Gauge } from 'prom-client'
import { startDrainer, type Drainer } from '@hub/service-kit'
import { createEventOutboxRepository, type EventOutboxRepository } from './event-outbox-repository.ts'
import { createEventRelay } from './event-relay.ts'

declare module 'fastify' {
  interface FastifyInstance {
    eventOutbox: EventOutboxRepository
    /** Relays everything pending now (tests and shutdown); resolves how many events went out. */
    eventRelay: Pick<Drainer, 'flush'>
  }
}

const PRUNE_EVERY_MS = 10 * 60_000

export default fp(
  async (fastify, opts: { intervalMs: number; maxLen: number; retentionHours: number }) => {
    const outbox = createEventOutboxRepository()
    const registry = fastify.metrics.registry
    const published = new Counter({ name: 'events_published_total', help: 'Hub events added to their Redis stream, by type', labelNames: ['type'], registers: [registry] })
    const duplicates = new Counter({ name: 'events_relay_duplicates_total', help: 'Events Redis already had (a relay repeated after a crash)', registers: [registry] })
    const refills = new Counter({ name: 'events_relay_refills_total', help: 'Times Redis had lost the streams and the relay refilled them from Postgres', registers: [registry] })
    new Gauge({
      name: 'event_outbox_backlog',
      help: 'Events written but not yet relayed',
      registers: [registry],
      async collect() {
        this.set((await fastify.db.withSystemScope((trx) => outbox.backlog(trx)).catch(() => ({ count: 0 }))).count)
      },
    })
    const relay = createEventRelay({
      db: fastify.db,
      redis: fastify.redis,
      prefix: fastify.redisPrefix,
      outbox,
      maxLen: opts.maxLen,
      retentionMs: opts.retentionHours * 3_600_000,
      onPublished: (rows) => {
        for (const row of rows) published.inc({ type: row.event.type })
      },
    })
    const drainer = startDrainer(fastify, {
      kind: 'hub event',
      intervalMs: opts.intervalMs,
      batch: async () => {
        const result = await relay.relayBatch()
        duplicates.inc(result.duplicates)
        if (result.refilled > 0) {
          refills.inc()
          fastify.log.warn({ reopened: result.refilled }, 'Redis had lost the event streams; refilling them from the outbox')
        }
        return result.published
      },
      last: (count) => count < relay.batchSize,
      delivered: new Counter({ name: 'events_relayed_total', help: 'Hub events relayed from the outbox to Redis Streams', registers: [registry] }),
      failures: new Counter({ name: 'events_relay_failures_total', help: 'Event relay batches that failed and will be retried', registers: [registry] }),
    })
    let pruner: NodeJS.Timeout | null = null
    if (opts.intervalMs > 0) {
      fastify.addHook('onReady', async () => {
        pruner = setInterval(() => {
          relay.prune().catch((error: Error) => fastify.log.warn({ err: { message: error.message } }, 'event outbox prune failed; will retry'))
        }, PRUNE_EVERY_MS)
        pruner.unref()
      })
    }
    fastify.addHook('onClose', async () => {
      if (pruner) clearInterval(pruner)
      await drainer.stop()
    })
    fastify.decorate('eventOutbox', outbox)
    fastify.decorate('eventRelay', { flush: drainer.flush })
  },
  { name: 'hub-events', dependencies: ['@hub/service-kit'] },
)
