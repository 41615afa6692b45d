// The webhook-inbox relay (integration-worker process): stored events whose enqueue never happened
// (Redis down, a process killed between the intake's commit and its enqueue) go back to the
// critical queue. The inbox row is the truth; enqueueing is idempotent per row.
import type { FastifyBaseLogger } from 'fastify'
import type { Database } from '@hub/service-kit'
import type { WebhookInboxRepository } from './webhook-inbox-repository.ts'
import type { WebhookDispatch } from './webhook-dispatch.ts'

export interface WebhookRelay {
  stop(): void
}

export function startWebhookRelay(deps: { db: Pick<Database, 'withSystemScope'>; inbox: Pick<WebhookInboxRepository, 'listUnenqueued'>; enqueue: WebhookDispatch['enqueue']; intervalMs: number; logger: FastifyBaseLogger }): WebhookRelay {
  let stopped = false
  const relay = setInterval(() => {
    if (stopped) return
    void (async () => {
      const rows = await deps.db.withSystemScope((trx) => deps.inbox.listUnenqueued(trx, 500))
      for (const row of rows) await deps.enqueue({ inboxId: row.id, tenantId: row.tenant_id, connectionId: row.connection_id })
      if (rows.length > 0) deps.logger.info({ count: rows.length }, 'relayed stored webhook events to the critical queue')
    })().catch((err: unknown) => deps.logger.warn({ err }, 'webhook relay failed'))
  }, deps.intervalMs)
  relay.unref()
  return {
    stop() {
      stopped = true
      clearInterval(relay)
    },
  }
}
