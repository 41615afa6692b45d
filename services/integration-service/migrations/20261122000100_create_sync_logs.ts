import type { Knex } from 'knex'
import { createAuditOutboxTable, forceTenantRls } from '@hub/service-kit'

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table sync_logs (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null,
      venue_id uuid not null,
      connection_id uuid not null,
      provider text not null check (provider in ('stripe', 'square', 'mailchimp', 'quickbooks')),
      entity text not null check (entity in ('customer', 'payment', 'product', 'invoice', 'contact')),
      mode text not null check (mode in ('full', 'incremental')),
      trigger text not null check (trigger in ('webhook', 'manual', 'scheduled', 'batch')),
      queue text not null,
      job_id text,
      status text not null default 'queued' check (status in ('queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled')),
      started_at timestamptz,
      finished_at timestamptz,
      records_fetched integer not null default 0,
      records_created integer not null default 0,
      records_updated integer not null default 0,
      records_unchanged integer not null default 0,
      records_deleted integer not null default 0,
      records_failed integer not null default 0,
      cursor_before text,
      cursor_after text,
      error_code text,
      error_message text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      -- The writing transaction's id: the change feed hands out only rows whose transaction is
      -- older than every transaction still running, so a slow commit is never skipped.
      change_xid xid8 not null default pg_current_xact_id()
    );
    create index sync_logs_feed_idx on sync_logs (change_xid, id);
    create index sync_logs_venue_feed_idx on sync_logs (venue_id, change_xid, id);
    create index sync_logs_tenant_idx on sync_logs (tenant_id, created_at desc);

    create function touch_sync_log() returns trigger language plpgsql as $$
    begin
      new.updated_at := now();
      new.change_xid := pg_current_xact_id();
      return new;
    end $$;
    create trigger sync_logs_touch before update on sync_logs for each row execute function touch_sync_log();
  `)
  // The compliance feed reads across tenants, and says so explicitly per transaction.
  await forceTenantRls(knex, 'sync_logs', { system: 'read' })
  await createAuditOutboxTable(knex)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table if exists audit_outbox; drop table if exists sync_logs; drop function if exists touch_sync_log();')
}
