// The webhook-inbox relay (integration-worker process). The inbox row is the truth, the queue only
// a hand-over, so every pass puts two kinds of stored event (back) on the critical queue:
// - those whose enqueue never happened (Redis down, a process killed between the intake's commit
//   and its enqueue);
// - those handed over long ago and still neither processed nor dead-lettered: their job may have
//   been lost with Redis (restarted empty, failed over). Adding a job whose id (the row's) Bull
//   still holds changes nothing, so an event merely waiting in a long queue is not run twice, and
//   the row's hand-over time moves on so it is looked at again only after another wait.
// One pass at a time: while Redis is down a queue add waits for it, and passes started meanwhile
// would each hold a batch of rows and resume together when it is back.
import type { FastifyBaseLogger } from 'fastify'
import type { Database } from '@hub/service-kit'
import type { WebhookInboxRepository } from './webhook-inbox-repository.ts'
import type { WebhookDispatch } from './webhook-dispatch.ts'

export interface WebhookRelay {
  stop(): void
}

type Row = { id: string; tenant_id: string; connection_id: string }

/** Rows per pass of each kind. */
const BATCH = 500

export function startWebhookRelay(deps: {
  db: Pick<Database, 'withSystemScope'>
  inbox: Pick<WebhookInboxRepository, 'listUnenqueued' | 'listStale' | 'markRequeued'>
  enqueue: WebhookDispatch['enqueue']
  /** Adds the events' jobs again (same job ids). */
  requeue: (items: Array<{ tenantId: string; connectionId: string; inboxId: string }>) => Promise<unknown>
  intervalMs: number
  /** How long after its hand-over an unprocessed event counts as possibly lost. */
  staleAfterMs: number
  logger: FastifyBaseLogger
}): WebhookRelay {
  let stopped = false
  let running = false
  const item = (row: Row) => ({ inboxId: row.id, tenantId: row.tenant_id, connectionId: row.connection_id })
  const pass = async () => {
    const unenqueued = await deps.db.withSystemScope((trx) => deps.inbox.listUnenqueued(trx, BATCH))
    for (const row of unenqueued) await deps.enqueue(item(row))
    if (unenqueued.length > 0) deps.logger.info({ count: unenqueued.length }, 'relayed stored webhook events to the critical queue')
    const stale = await deps.db.withSystemScope((trx) => deps.inbox.listStale(trx, BATCH, deps.staleAfterMs))
    if (stale.length === 0) return
    await deps.requeue(stale.map(item))
    await deps.db.withSystemScope((trx) =>
      deps.inbox.markRequeued(
        trx,
        stale.map((row) => row.id),
      ),
    )
    deps.logger.info({ count: stale.length }, 'handed unprocessed webhook events to the critical queue again (a job lost with Redis is re-created)')
  }
  const relay = setInterval(() => {
    if (stopped || running) return
    running = true
    pass()
      .catch((err: unknown) => deps.logger.warn({ err }, 'webhook relay failed'))
      .finally(() => {
        running = false
      })
  }, deps.intervalMs)
  relay.unref()
  return {
    stop() {
      stopped = true
      clearInterval(relay)
    },
  }
}
