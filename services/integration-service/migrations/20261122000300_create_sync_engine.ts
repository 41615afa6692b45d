import type { Knex } from 'knex'
import { forceTenantRls } from '@hub/service-kit'

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    -- Where each (connection, entity) stands: the incremental cursor, a running run's checkpoint.
    create table sync_state (
      connection_id uuid not null references connections(id) on delete cascade,
      entity text not null,
      tenant_id uuid not null,
      cursor text,
      run_sync_log_id uuid,
      run_cursor text,
      run_started_at timestamptz,
      mapping_version integer not null default 0,
      last_full_sync_at timestamptz,
      last_success_at timestamptz,
      updated_at timestamptz not null default now(),
      primary key (connection_id, entity)
    );

    create sequence records_change_seq;
    create table records (
      connection_id uuid not null references connections(id) on delete cascade,
      entity text not null,
      external_id text not null,
      tenant_id uuid not null,
      venue_id uuid not null,
      provider text not null,
      data jsonb not null,
      raw jsonb not null,
      content_hash text not null,
      deleted_at timestamptz,
      -- The last full run that saw the record: a full run deletes what it did not see.
      last_seen_sync_log_id uuid,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      -- Changed-since cursor for GET /records (creates, updates and deletions alike).
      change_seq bigint not null default nextval('records_change_seq'),
      primary key (connection_id, entity, external_id)
    );
    create index records_changes_idx on records (tenant_id, venue_id, provider, entity, change_seq);

    create table field_mappings (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null,
      provider text not null,
      entity text not null,
      source_path text not null check (length(source_path) between 1 and 200),
      target_field text not null check (target_field ~ '^[a-zA-Z][a-zA-Z0-9_]{0,63}$'),
      transform text not null default 'none',
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      constraint field_mappings_target_unique unique (tenant_id, provider, entity, target_field)
    );

    -- Provider webhooks, stored in the request that received them; processed from the critical queue.
    create table webhook_inbox (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null,
      connection_id uuid not null references connections(id) on delete cascade,
      provider text not null,
      event_id text not null,
      event_type text not null,
      entity text,
      external_id text,
      payload jsonb not null,
      received_at timestamptz not null default now(),
      enqueued_at timestamptz,
      processed_at timestamptz,
      attempts integer not null default 0,
      last_error text,
      constraint webhook_inbox_event_unique unique (provider, connection_id, event_id)
    );
    create index webhook_inbox_unenqueued_idx on webhook_inbox (received_at) where enqueued_at is null;

    -- Jobs that exhausted their attempts, for an admin to retry or discard.
    create table dead_letters (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null,
      queue text not null,
      job_name text not null,
      job_id text,
      payload jsonb not null,
      error_code text,
      error_message text,
      attempts integer not null,
      failed_at timestamptz not null default now(),
      retried_at timestamptz,
      discarded_at timestamptz
    );
    create index dead_letters_open_idx on dead_letters (tenant_id, failed_at desc) where retried_at is null and discarded_at is null;
  `)
  for (const table of ['sync_state', 'records', 'field_mappings', 'dead_letters']) await forceTenantRls(knex, table)
  // The inbox relay re-enqueues rows of every tenant that never reached Redis.
  await forceTenantRls(knex, 'webhook_inbox', { system: 'all' })
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table if exists dead_letters; drop table if exists webhook_inbox; drop table if exists field_mappings; drop table if exists records; drop sequence if exists records_change_seq; drop table if exists sync_state;')
}
