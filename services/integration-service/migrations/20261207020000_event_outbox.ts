import type { Knex } from 'knex'
import { forceTenantRls, SYSTEM_SCOPE } from '@hub/service-kit'

// The events the hub publishes, written in the transaction of the change they describe and relayed
// to Redis Streams under a position the relay gives them (stream_position). `sequence` is
// per connection (per venue for an event without one), taken from event_sequences in the same
// transaction: a rolled-back change takes its number back with it, so the sequence has no gaps.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table event_sequences (
      scope_id uuid primary key,
      tenant_id uuid not null,
      last_sequence bigint not null
    );
    create table event_outbox (
      id bigint generated always as identity primary key,
      event_id uuid not null unique default gen_random_uuid(),
      tenant_id uuid not null,
      venue_id uuid not null,
      connection_id uuid,
      type text not null,
      version integer not null,
      sequence bigint not null,
      occurred_at timestamptz not null default now(),
      data jsonb not null,
      -- The entry id on its stream (<position>-0), given by the relay before it publishes, so a
      -- publish repeated after a crash carries the same id and Redis refuses it.
      stream_position bigint unique,
      relayed_at timestamptz
    );
    create sequence event_outbox_position;
    create unique index event_outbox_scope_sequence_idx on event_outbox ((coalesce(connection_id, venue_id)), sequence);
    create index event_outbox_unpositioned_idx on event_outbox (id) where relayed_at is null and stream_position is null;
    create index event_outbox_pending_idx on event_outbox (stream_position) where relayed_at is null;
    create index event_outbox_relayed_idx on event_outbox (relayed_at) where relayed_at is not null;
  `)
  await forceTenantRls(knex, 'event_sequences')
  await forceTenantRls(knex, 'event_outbox')
  // The relay reads across tenants, marks what it relayed, re-opens it when Redis lost it, and
  // removes rows past retention; it never inserts (only the change's own transaction does).
  await knex.raw(`
    create policy system_read on event_outbox for select using (${SYSTEM_SCOPE});
    create policy system_relay on event_outbox for update using (${SYSTEM_SCOPE}) with check (${SYSTEM_SCOPE});
    create policy system_prune on event_outbox for delete using (${SYSTEM_SCOPE});
  `)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table if exists event_outbox; drop sequence if exists event_outbox_position; drop table if exists event_sequences')
}
