import type { Knex } from 'knex'
import { forceTenantRls } from '@hub/service-kit'

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    -- What a run does: pull provider records in, push hub records out, or apply one webhook event.
    alter table sync_logs add column kind text not null default 'pull' check (kind in ('pull', 'push', 'webhook'));
    -- Two runs of one (connection, entity) never overlap: a second enqueue hits this index.
    -- Webhook events are single-record and idempotent, so they may run beside a pull.
    create unique index sync_logs_one_active_run on sync_logs (connection_id, entity, kind) where status in ('queued', 'running') and kind <> 'webhook';
    create index sync_logs_job_idx on sync_logs (job_id) where job_id is not null;

    alter table field_mappings add constraint field_mappings_transform_check
      check (transform in ('none', 'lowercase', 'uppercase', 'trim', 'string', 'number', 'boolean', 'date'));

    -- Pushes (Mailchimp members, QuickBooks sales receipts) read a venue's records across its connections.
    create index records_venue_entity_idx on records (tenant_id, venue_id, entity, change_seq);

    -- What was last pushed to a destination, so a push sends only new or changed records and a
    -- repeated batch is a no-op.
    create table push_state (
      destination_connection_id uuid not null references connections(id) on delete cascade,
      source_connection_id uuid not null,
      entity text not null,
      external_id text not null,
      tenant_id uuid not null,
      content_hash text not null,
      pushed_at timestamptz not null default now(),
      primary key (destination_connection_id, source_connection_id, entity, external_id)
    );
  `)
  await forceTenantRls(knex, 'push_state')
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop table if exists push_state;
    drop index if exists records_venue_entity_idx;
    alter table field_mappings drop constraint if exists field_mappings_transform_check;
    drop index if exists sync_logs_job_idx;
    drop index if exists sync_logs_one_active_run;
    alter table sync_logs drop column if exists kind;
  `)
}
