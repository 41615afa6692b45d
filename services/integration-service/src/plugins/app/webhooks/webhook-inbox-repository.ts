// Data access for the webhook inbox: provider events stored by the intake in the request that
// received them, enqueued on the critical queue, relayed when the enqueue never happened, and
// marked processed by the webhook processor. Knex and nothing else.
import type { Knex } from 'knex'
import { INTEGRATION_TABLES } from '../../../db/schema.ts'

export interface InboxRow {
  id: string
  tenant_id: string
  connection_id: string
  provider: string
  event_type: string
  entity: string | null
  external_id: string | null
  /** The event as received (verified at intake). */
  payload: unknown
  processed_at: Date | null
}

export interface NewInboxEvent {
  tenantId: string
  connectionId: string
  provider: string
  eventId: string
  eventType: string
  entity: string | null
  externalId: string | null
  payload: unknown
}

/** A stored event just marked announced: what its `integration.webhook.received` carries. */
export type AnnouncedRow = Pick<InboxRow, 'id' | 'tenant_id' | 'connection_id' | 'provider' | 'event_type' | 'entity' | 'external_id'>

const inbox = (trx: Knex.Transaction) => trx<InboxRow>(INTEGRATION_TABLES.webhookInbox)

/** Rows per INSERT: 8,000 parameters, well under Postgres's 65,535 per statement. */
const INSERT_CHUNK = 1_000

type InsertedEvent = { id: string; eventType: string; entity: NewInboxEvent['entity']; externalId: string | null }

async function insertChunk(trx: Knex.Transaction, events: NewInboxEvent[]): Promise<InsertedEvent[]> {
  if (events.length === 0) return []
  const rows = await trx(INTEGRATION_TABLES.webhookInbox)
    .insert(
      events.map((event) => ({
        tenant_id: event.tenantId,
        connection_id: event.connectionId,
        provider: event.provider,
        event_id: event.eventId,
        event_type: event.eventType,
        entity: event.entity,
        external_id: event.externalId,
        payload: JSON.stringify(event.payload ?? {}),
      })),
    )
    .onConflict(['provider', 'connection_id', 'event_id'])
    .ignore()
    .returning(['id', 'event_type', 'entity', 'external_id'])
  return rows.map((row: { id: string; event_type: string; entity: NewInboxEvent['entity']; external_id: string | null }) => ({ id: row.id, eventType: row.event_type, entity: row.entity, externalId: row.external_id }))
}

export function createWebhookInboxRepository() {
  return {
    /**
     * Retention: deletes at most `limit` stored payloads of the tenant received before `cutoff`,
     * outside the held connections (call inside `withTenant`); returns how many went.
     */
    async purgeBatch(trx: Knex.Transaction, tenantId: string, cutoff: Date, heldConnectionIds: string[], limit: number): Promise<number> {
      const result = await trx.raw(
        `delete from ${INTEGRATION_TABLES.webhookInbox} where ctid = any(array(
           select ctid from ${INTEGRATION_TABLES.webhookInbox} where tenant_id = ? and received_at < ? and connection_id <> all(?::uuid[]) limit ?))`,
        [tenantId, cutoff, heldConnectionIds, limit],
      )
      return (result as { rowCount: number }).rowCount
    },

    /**
     * Inserts the events; a (provider, connection, event id) already stored is skipped. Returns the
     * new rows. In statements of INSERT_CHUNK rows: one delivery may carry thousands of events (a
     * QuickBooks batch), and a statement takes at most 65,535 parameters, eight a row here.
     */
    async insertNew(trx: Knex.Transaction, events: NewInboxEvent[]): Promise<InsertedEvent[]> {
      const inserted: InsertedEvent[] = []
      for (let start = 0; start < events.length; start += INSERT_CHUNK) inserted.push(...(await insertChunk(trx, events.slice(start, start + INSERT_CHUNK))))
      return inserted
    },

    /**
     * Marks the rows not announced yet as announced and returns them, oldest first (call inside
     * `withTenant`): each row comes back from one call only, so its `integration.webhook.received`
     * is published once.
     */
    async markAnnounced(trx: Knex.Transaction, ids: string[]): Promise<AnnouncedRow[]> {
      if (ids.length === 0) return []
      const rows = (await inbox(trx)
        .whereIn('id', ids)
        .whereNull('announced_at')
        .update({ announced_at: trx.fn.now() } as never)
        .returning(['id', 'tenant_id', 'connection_id', 'provider', 'event_type', 'entity', 'external_id', 'received_at'])) as unknown as Array<AnnouncedRow & { received_at: Date }>
      return rows.sort((a, b) => a.received_at.getTime() - b.received_at.getTime() || (a.id < b.id ? -1 : 1)).map(({ received_at: _receivedAt, ...row }) => row)
    },

    async markEnqueued(trx: Knex.Transaction, id: string): Promise<void> {
      await trx(INTEGRATION_TABLES.webhookInbox).where({ id }).whereNull('enqueued_at').update({ enqueued_at: trx.fn.now() })
    },

    async markEnqueuedMany(trx: Knex.Transaction, ids: string[]): Promise<void> {
      await trx(INTEGRATION_TABLES.webhookInbox).whereIn('id', ids).whereNull('enqueued_at').update({ enqueued_at: trx.fn.now() })
    },

    /** Across tenants (system scope): stored events older than a few seconds whose enqueue never happened. */
    async listUnenqueued(trx: Knex.Transaction, limit: number): Promise<Array<{ id: string; tenant_id: string; connection_id: string }>> {
      return (await trx(INTEGRATION_TABLES.webhookInbox)
        .select('id', 'tenant_id', 'connection_id')
        .whereNull('enqueued_at')
        .whereNull('processed_at')
        .where('received_at', '<', trx.raw("now() - interval '5 seconds'"))
        .orderBy('received_at')
        .limit(limit)) as Array<{ id: string; tenant_id: string; connection_id: string }>
    },

    /**
     * Across tenants (system scope): events handed to the queue at least `olderThanMs` ago and still
     * not processed nor dead-lettered. Their job may be gone (Redis restarted empty); handing them
     * over again is harmless when it is not, as the job id is the row's.
     */
    async listStale(trx: Knex.Transaction, limit: number, olderThanMs: number): Promise<Array<{ id: string; tenant_id: string; connection_id: string }>> {
      return (await trx(`${INTEGRATION_TABLES.webhookInbox} as w`)
        .select('w.id', 'w.tenant_id', 'w.connection_id')
        .whereNull('w.processed_at')
        .whereNotNull('w.enqueued_at')
        .where('w.enqueued_at', '<', trx.raw('now() - make_interval(secs => ?)', [olderThanMs / 1000]))
        .whereNotExists((dead) => dead.select(trx.raw('1')).from(INTEGRATION_TABLES.deadLetters).where('job_id', trx.raw("'webhook-' || w.id::text")))
        .orderBy('w.enqueued_at')
        .limit(limit)) as Array<{ id: string; tenant_id: string; connection_id: string }>
    },

    /** Across tenants (system scope): the events were handed to the queue again now. */
    async markRequeued(trx: Knex.Transaction, ids: string[]): Promise<void> {
      await trx(INTEGRATION_TABLES.webhookInbox).whereIn('id', ids).whereNull('processed_at').update({ enqueued_at: trx.fn.now() })
    },

    async findForConnection(trx: Knex.Transaction, id: string, connectionId: string): Promise<InboxRow | undefined> {
      return inbox(trx).where({ id, connection_id: connectionId }).first()
    },

    /**
     * Marks the row processed (counting the attempt) unless it already is, and returns it when it
     * did: one statement that takes the row lock and the decision together, so of two attempts
     * at once the second waits for the first's commit and then finds nothing to claim.
     */
    async claim(trx: Knex.Transaction, id: string, options: { connectionId?: string; lastError: string | null }): Promise<InboxRow | undefined> {
      const query = inbox(trx).where({ id }).whereNull('processed_at')
      if (options.connectionId) query.where({ connection_id: options.connectionId })
      const [row] = (await query
        .update({ processed_at: trx.fn.now() as unknown as Date, attempts: trx.raw('attempts + 1') as unknown as number, last_error: options.lastError } as never)
        .returning(['id', 'tenant_id', 'connection_id', 'provider', 'event_type', 'entity', 'external_id', 'payload', 'processed_at'])) as InboxRow[]
      return row
    },

    /** A failed attempt: the row keeps count and the last (scrubbed) error. */
    async recordAttempt(trx: Knex.Transaction, id: string, lastError: string): Promise<void> {
      await inbox(trx)
        .where({ id })
        .update({ attempts: trx.raw('attempts + 1') as unknown as number, last_error: lastError } as never)
    },
  }
}

export type WebhookInboxRepository = ReturnType<typeof createWebhookInboxRepository>
