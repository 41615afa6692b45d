// Delivers the service's audit outbox to compliance-service. Undelivered rows are taken oldest
// first with FOR UPDATE SKIP LOCKED (replicas share the work instead of sending the same rows),
// posted, and marked delivered in the same transaction. A crash between the post and the commit
// sends them again; compliance-service recognises the event ids. Nothing is ever dropped: a batch
// that cannot be delivered stays in the outbox and is retried on the next tick.
import fp from 'fastify-plugin'
import { Counter } from 'prom-client'
import { complianceClient, type AuditEventInput } from '@hub/contracts'

export interface AuditRelay {
  /** Delivers everything undelivered now; resolves with how many rows were delivered. */
  flush(): Promise<number>
}

declare module 'fastify' {
  interface FastifyInstance {
    auditRelay: AuditRelay
  }
}

export interface AuditRelayOptions {
  /** The outbox, schema-qualified (`venue.audit_outbox`). */
  table: string
  source: string
  complianceUrl: string
  /** Pause between deliveries; 0 runs no timer (callers flush). */
  intervalMs: number
  batchSize?: number
}

interface OutboxRow {
  id: string
  tenant_id: string
  actor_type: 'user' | 'service'
  actor_id: string
  action: string
  entity_type: string
  entity_id: string
  before: unknown
  after: unknown
  request_id: string | null
  ip: string | null
  occurred_at: Date
}

export default fp(
  async (fastify, opts: AuditRelayOptions) => {
    const batchSize = Math.min(opts.batchSize ?? 200, 500)
    const compliance = complianceClient(fastify.internalClient(opts.complianceUrl))
    const delivered = new Counter({ name: 'audit_events_delivered_total', help: 'Audit events delivered to compliance-service', registers: [fastify.metrics.registry] })
    const failures = new Counter({ name: 'audit_relay_failures_total', help: 'Audit deliveries that failed and will be retried', registers: [fastify.metrics.registry] })

    const toEvent = (row: OutboxRow): AuditEventInput => ({
      id: row.id,
      tenantId: row.tenant_id,
      source: opts.source,
      actorType: row.actor_type,
      actorId: row.actor_id,
      action: row.action,
      entityType: row.entity_type,
      entityId: row.entity_id,
      before: row.before ?? null,
      after: row.after ?? null,
      requestId: row.request_id,
      ip: row.ip,
      occurredAt: row.occurred_at.toISOString(),
    })

    async function deliverBatch(): Promise<number> {
      return fastify.db.withSystemScope(async (trx) => {
        const rows = (await trx(opts.table).whereNull('delivered_at').orderBy([{ column: 'occurred_at' }, { column: 'id' }]).limit(batchSize).forUpdate().skipLocked()) as OutboxRow[]
        if (rows.length === 0) return 0
        await compliance.recordAuditEvents({ events: rows.map(toEvent) })
        await trx(opts.table)
          .whereIn(
            'id',
            rows.map((row) => row.id),
          )
          .update({ delivered_at: trx.fn.now() })
        return rows.length
      })
    }

    let running: Promise<number> | null = null
    function flush(): Promise<number> {
      running ??= (async () => {
        let total = 0
        try {
          for (;;) {
            const count = await deliverBatch()
            total += count
            delivered.inc(count)
            if (count < batchSize) return total
          }
        } catch (error) {
          failures.inc()
          fastify.log.warn({ err: { message: (error as Error).message }, delivered: total }, 'audit events not delivered; will retry')
          return total
        } finally {
          running = null
        }
      })()
      return running
    }
    fastify.decorate('auditRelay', { flush })

    let timer: NodeJS.Timeout | null = null
    let closing = false
    const tick = () => {
      timer = setTimeout(() => {
        void flush().finally(() => {
          if (!closing) tick()
        })
      }, opts.intervalMs)
      timer.unref()
    }
    if (opts.intervalMs > 0) fastify.addHook('onReady', async () => tick())
    fastify.addHook('onClose', async () => {
      closing = true
      if (timer) clearTimeout(timer)
      await running
    })
  },
  { name: '@hub/audit-relay', fastify: '5.x', dependencies: ['@hub/database', '@hub/internal', '@hub/metrics'] },
)
