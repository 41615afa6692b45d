// Delivers buffered security events to compliance-service (`POST /internal/security-events`,
// idempotent by event id; a higher count under a known id updates it). From the outbox table
// through the kit's outbox relay; from the gateway's Redis stream through a consumer group, so
// replicas share the stream the way SKIP LOCKED shares a table: an entry is acknowledged and
// removed only after compliance-service took it, and entries a crashed replica held are claimed
// by another after a while.
import { hostname } from 'node:os'
import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import { Counter } from 'prom-client'
import { complianceClient, type SecurityEventInput } from '@hub/contracts'
import { startDrainer, startOutboxRelay, type OutboxRelay } from '../outbox-relay.ts'
import { newestCopies, type SecurityEventOutboxRow } from '../security-event-outbox.ts'

declare module 'fastify' {
  interface FastifyInstance {
    securityRelay: OutboxRelay
  }
}

export interface SecurityRelayOptions {
  /** The outbox, schema-qualified (`venue.security_event_outbox`), or a Redis stream key. */
  buffer: { table: string } | { stream: string }
  complianceUrl: string
  /** Pause between deliveries; 0 runs no timer (callers flush). */
  intervalMs: number
  batchSize?: number
  /** How long an entry may sit with a consumer that took it before another claims it. */
  claimIdleMs?: number
}

const GROUP = 'security-relay'
type StreamEntry = [id: string, fields: string[]]

export default fp(
  async (fastify, opts: SecurityRelayOptions) => {
    const compliance = complianceClient(fastify.internalClient(opts.complianceUrl))
    const batchSize = Math.min(opts.batchSize ?? 200, 500)
    const deliver = async (events: SecurityEventInput[]) => {
      await compliance.reportSecurityEvents({ events: newestCopies(events) })
    }
    if ('table' in opts.buffer) {
      const relay = startOutboxRelay<SecurityEventOutboxRow>(fastify, {
        kind: 'security',
        table: opts.buffer.table,
        intervalMs: opts.intervalMs,
        batchSize,
        // compliance-service has them for good; a window that grows later is inserted again.
        delivered: 'delete',
        deliver: (rows) => deliver(rows.map((row) => row.event)),
      })
      fastify.decorate('securityRelay', relay)
      return
    }

    const key = opts.buffer.stream
    const redis = fastify.redis
    const consumer = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
    const claimIdleMs = opts.claimIdleMs ?? 30_000
    const delivered = new Counter({ name: 'security_events_delivered_total', help: 'security events delivered to compliance-service', registers: [fastify.metrics.registry] })
    const failures = new Counter({ name: 'security_relay_failures_total', help: 'security deliveries that failed and will be retried', registers: [fastify.metrics.registry] })
    let groupReady = false

    async function ensureGroup(): Promise<void> {
      if (groupReady) return
      try {
        // From the stream's start: entries written before any relay existed are delivered too.
        await redis.xgroup('CREATE', key, GROUP, '0', 'MKSTREAM')
      } catch (error) {
        if (!String((error as Error).message).includes('BUSYGROUP')) throw error
      }
      groupReady = true
    }

    const entriesOf = (reply: unknown): StreamEntry[] => {
      const streams = reply as [string, StreamEntry[]][] | null
      return streams?.[0]?.[1] ?? []
    }

    /** Own entries not yet acknowledged (a failed post), then a dead replica's, then new ones. */
    async function take(): Promise<StreamEntry[]> {
      const own = entriesOf(await redis.xreadgroup('GROUP', GROUP, consumer, 'COUNT', batchSize, 'STREAMS', key, '0'))
      if (own.length > 0) return own
      const claimed = (await redis.xautoclaim(key, GROUP, consumer, claimIdleMs, '0-0', 'COUNT', batchSize)) as [string, StreamEntry[]]
      if (claimed[1].length > 0) return claimed[1]
      return entriesOf(await redis.xreadgroup('GROUP', GROUP, consumer, 'COUNT', batchSize, 'STREAMS', key, '>'))
    }

    async function deliverBatch(): Promise<number> {
      await ensureGroup()
      const taken = await take().catch(async (error: unknown) => {
        // Redis emptied (restart without persistence, failover): the group went with the stream.
        if (!String((error as Error).message).includes('NOGROUP')) throw error
        groupReady = false
        await ensureGroup()
        return take()
      })
      const entries = taken.filter(([, fields]) => fields !== null)
      if (entries.length === 0) return 0
      const events: SecurityEventInput[] = []
      for (const [id, fields] of entries) {
        const at = fields.indexOf('event')
        const raw = at >= 0 ? fields[at + 1] : undefined
        try {
          if (raw !== undefined) events.push(JSON.parse(raw) as SecurityEventInput)
        } catch {
          // Only the reporter writes here; an entry that is not its JSON must not block the rest.
          fastify.log.error({ entry: id }, 'unreadable security-event stream entry skipped')
        }
      }
      if (events.length > 0) await deliver(events)
      const ids = entries.map(([id]) => id)
      await redis
        .multi()
        .xack(key, GROUP, ...ids)
        .xdel(key, ...ids)
        .exec()
      return entries.length
    }

    const drainer = startDrainer(fastify, { kind: 'security', intervalMs: opts.intervalMs, batch: deliverBatch, last: (count) => count === 0, delivered, failures })
    fastify.decorate('securityRelay', { flush: drainer.flush })

    // The consumer leaves the group only when it holds nothing: leaving drops its pending list.
    fastify.addHook('onClose', async () => {
      await drainer.stop()
      try {
        const pending = (await redis.xpending(key, GROUP, '-', '+', 1, consumer)) as unknown[]
        if (pending.length === 0) await redis.xgroup('DELCONSUMER', key, GROUP, consumer)
      } catch {
        // Redis gone: the group keeps a stale consumer name, which costs nothing.
      }
    })
  },
  { name: '@hub/security-relay', fastify: '5.x', dependencies: ['@hub/internal', '@hub/metrics'] },
)
