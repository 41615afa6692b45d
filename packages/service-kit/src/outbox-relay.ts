// The one way out of a service's outbox tables (audit events, security events): undelivered rows
// are taken oldest first with FOR UPDATE SKIP LOCKED (replicas share the work instead of sending
// the same rows), handed to `deliver`, and marked delivered in the same transaction. A crash
// between the delivery and the commit sends them again; the receiver recognises the event ids.
// Nothing is ever dropped: a batch that cannot be delivered stays and is retried on the next tick.
import type { FastifyInstance } from 'fastify'
import { Counter } from 'prom-client'
import { inSpan, SpanKind } from '@hub/telemetry'

export interface OutboxRelay {
  /** Delivers everything undelivered now; resolves with how many rows were delivered. */
  flush(): Promise<number>
}

export interface OutboxRelayOptions<Row extends { id: string }> {
  /** What it relays, for metric names and logs: `audit`, `security`. */
  kind: string
  /** The outbox, schema-qualified (`venue.audit_outbox`); needs `id`, `occurred_at`, `delivered_at`. */
  table: string
  /** Pause between deliveries; 0 runs no timer (callers flush). */
  intervalMs: number
  batchSize?: number
  /**
   * `mark` (default) keeps delivered rows with `delivered_at` set; `delete` removes them, for
   * outboxes whose rows mean nothing once the receiver has them (a rewrite under the same id
   * simply inserts again).
   */
  delivered?: 'mark' | 'delete'
  /** Hands the rows over; rejects when they were not taken (they stay undelivered). */
  deliver(rows: Row[]): Promise<void>
}

/** Starts a relay on the service (timer from onReady, stopped in onClose). */
export function startOutboxRelay<Row extends { id: string }>(fastify: FastifyInstance, opts: OutboxRelayOptions<Row>): OutboxRelay {
  const batchSize = Math.min(opts.batchSize ?? 200, 500)
  const delivered = new Counter({ name: `${opts.kind}_events_delivered_total`, help: `${opts.kind} events delivered to compliance-service`, registers: [fastify.metrics.registry] })
  const failures = new Counter({ name: `${opts.kind}_relay_failures_total`, help: `${opts.kind} deliveries that failed and will be retried`, registers: [fastify.metrics.registry] })

  async function deliverBatch(): Promise<number> {
    return fastify.db.withSystemScope(async (trx) => {
      const rows = (await trx(opts.table)
        .whereNull('delivered_at')
        .orderBy([{ column: 'occurred_at' }, { column: 'id' }])
        .limit(batchSize)
        .forUpdate()
        .skipLocked()) as Row[]
      if (rows.length === 0) return 0
      // A span only for a batch that goes out (empty polls, every second, would be noise); the
      // delivery's HTTP call is its child, so the receiver's handling joins the same trace.
      return inSpan(`${opts.kind} outbox relay`, { kind: SpanKind.PRODUCER, attributes: { 'outbox.kind': opts.kind, 'outbox.table': opts.table, 'outbox.batch_size': rows.length } }, async () => {
        await opts.deliver(rows)
        const done = trx(opts.table).whereIn(
          'id',
          rows.map((row) => row.id),
        )
        await (opts.delivered === 'delete' ? done.delete() : done.update({ delivered_at: trx.fn.now() }))
        return rows.length
      })
    })
  }

  const drainer = startDrainer(fastify, { kind: opts.kind, intervalMs: opts.intervalMs, batch: deliverBatch, last: (count) => count < batchSize, delivered, failures })
  fastify.addHook('onClose', async () => drainer.stop())
  return { flush: drainer.flush }
}

export interface Drainer {
  /** Delivers batches until the buffer is drained; a flush during a drain shares it. */
  flush(): Promise<number>
  /** Stops the timer and waits for a drain under way. */
  stop(): Promise<void>
}

/**
 * The loop both relays (outbox tables, the gateway's Redis stream) run: batches one after another
 * until `last` says the buffer is drained, one drain at a time, then again `intervalMs` after the
 * drain ended (no timer when 0). A failed batch is counted and logged; what it held is retried on
 * the next drain.
 */
export function startDrainer(fastify: FastifyInstance, opts: { kind: string; intervalMs: number; batch(): Promise<number>; last(count: number): boolean; delivered: Counter; failures: Counter }): Drainer {
  let running: Promise<number> | null = null
  function flush(): Promise<number> {
    running ??= (async () => {
      let total = 0
      try {
        for (;;) {
          const count = await opts.batch()
          total += count
          opts.delivered.inc(count)
          if (opts.last(count)) return total
        }
      } catch (error) {
        opts.failures.inc()
        fastify.log.warn({ err: { message: (error as Error).message }, delivered: total }, `${opts.kind} events not delivered; will retry`)
        return total
      }
    })().finally(() => {
      running = null
    })
    return running
  }

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
  return {
    flush,
    async stop() {
      closing = true
      if (timer) clearTimeout(timer)
      await running
    },
  }
}
