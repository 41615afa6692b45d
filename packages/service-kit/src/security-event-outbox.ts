// Security events wait in a durable buffer until compliance-service has them: the service's own
// outbox table when it has a database (written by the reporter, off the request path), a Redis
// stream when it has none (the gateway). Each event is one row or entry per reporter window, so a
// flood of refusals costs a handful of writes; a rewrite carries the grown count under the same id.
import type { Knex } from 'knex'
import type { Redis } from 'ioredis'
import type { SecurityEventInput } from '@hub/contracts'
import type { SecurityEventSink } from '@hub/internal-auth'
import { SYSTEM_SCOPE } from './rls.ts'
import type { Database } from './plugins/database.ts'

/**
 * The security-event outbox every service with a database keeps in its own schema (call from a
 * migration whose search path is that schema). Only the reporter and the relay touch it, across
 * tenants (and without one: anonymous refusals), hence the system policy alone.
 */
export async function createSecurityEventOutboxTable(knex: Knex, table = 'security_event_outbox'): Promise<void> {
  await knex.raw(`
    create table ${table} (
      id uuid primary key,
      tenant_id uuid,
      event jsonb not null,
      occurred_at timestamptz not null,
      delivered_at timestamptz
    );
    create index ${table}_undelivered_idx on ${table} (occurred_at) where delivered_at is null;
    alter table ${table} enable row level security;
    alter table ${table} force row level security;
    create policy system_all on ${table} using (${SYSTEM_SCOPE}) with check (${SYSTEM_SCOPE});
  `)
}

export interface SecurityEventOutboxRow {
  id: string
  tenant_id: string | null
  event: SecurityEventInput
  occurred_at: Date
  delivered_at: Date | null
}

/**
 * Writes events to the outbox. An event seen again (its window grew) replaces the waiting copy,
 * or is inserted again once the relay delivered (and removed) the earlier one; if the relay holds
 * the row right now, the write waits for its commit.
 */
export function outboxSecurityEventSink(db: () => Database, table: string): SecurityEventSink {
  return {
    async write(events) {
      if (events.length === 0) return
      await db().withSystemScope(async (trx) => {
        await trx(table)
          .insert(events.map((event) => ({ id: event.id, tenant_id: event.tenantId ?? null, event: JSON.stringify(event), occurred_at: new Date(event.occurredAt) })))
          .onConflict('id')
          .merge({ event: trx.raw('excluded.event'), delivered_at: null })
      })
    },
  }
}

/** The gateway's buffer: a Redis stream drained by a consumer group (see security-relay). */
export function streamSecurityEventSink(redis: () => Redis, key: string): SecurityEventSink {
  return {
    async write(events) {
      if (events.length === 0) return
      const multi = redis().multi()
      for (const event of events) multi.xadd(key, '*', 'event', JSON.stringify(event))
      const results = await multi.exec()
      const failed = results?.find(([error]) => error !== null)
      if (!results || failed) throw failed?.[0] ?? new Error('the security-event stream write was discarded')
    },
  }
}

/** Of several copies of one event, the one with the highest count stands for all. */
export function newestCopies(events: SecurityEventInput[]): SecurityEventInput[] {
  const byId = new Map<string, SecurityEventInput>()
  for (const event of events) {
    const seen = byId.get(event.id)
    if (!seen || (event.count ?? 1) >= (seen.count ?? 1)) byId.set(event.id, event)
  }
  return [...byId.values()]
}
