import type { Knex } from 'knex'

const TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"
const SYSTEM = "current_setting('app.scope', true) = 'system'"

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    -- compliance-service's own copy of every sync run, as read from integration-service.
    create table sync_logs (
      id uuid primary key,
      tenant_id uuid not null,
      venue_id uuid not null,
      connection_id uuid not null,
      provider text not null,
      entity text not null,
      mode text not null,
      trigger text not null,
      queue text not null,
      job_id text,
      status text not null,
      started_at timestamptz,
      finished_at timestamptz,
      records_fetched integer not null,
      records_created integer not null,
      records_updated integer not null,
      records_unchanged integer not null,
      records_deleted integer not null,
      records_failed integer not null,
      error_code text,
      error_message text,
      source_created_at timestamptz not null,
      source_updated_at timestamptz not null,
      first_seen_at timestamptz not null default now(),
      last_seen_at timestamptz not null default now(),
      times_seen integer not null default 1
    );
    create index sync_logs_venue_idx on sync_logs (tenant_id, venue_id, source_created_at desc, id);

    create table consumer_cursors (
      consumer text primary key,
      cursor text,
      last_polled_at timestamptz,
      last_success_at timestamptz,
      last_error text,
      updated_at timestamptz not null default now()
    );

    create table security_events (
      id uuid primary key,
      tenant_id uuid,
      type text not null check (type in ('AUTH_FAILURE', 'RATE_LIMIT', 'INVALID_SIGNATURE', 'REPLAY', 'FORBIDDEN', 'SUSPICIOUS_ACCESS')),
      severity text not null check (severity in ('low', 'medium', 'high', 'critical')),
      source text not null,
      code text not null,
      actor text,
      ip text,
      method text,
      path text,
      request_id text,
      details jsonb not null default '{}'::jsonb,
      occurred_at timestamptz not null,
      received_at timestamptz not null default now(),
      resolved_at timestamptz,
      resolved_by text,
      resolution_note text
    );
    create index security_events_tenant_idx on security_events (tenant_id, occurred_at desc);
    create index security_events_open_idx on security_events (occurred_at desc) where resolved_at is null;
  `)
  await knex.raw(`
    alter table sync_logs enable row level security;
    alter table sync_logs force row level security;
    create policy tenant_isolation on sync_logs using (tenant_id = ${TENANT}) with check (tenant_id = ${TENANT});
    create policy system_all on sync_logs using (${SYSTEM}) with check (${SYSTEM});

    alter table security_events enable row level security;
    alter table security_events force row level security;
    create policy tenant_read on security_events for select using (tenant_id = ${TENANT});
    create policy tenant_resolve on security_events for update using (tenant_id = ${TENANT}) with check (tenant_id = ${TENANT});
    create policy system_all on security_events using (${SYSTEM}) with check (${SYSTEM});
  `)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table if exists security_events; drop table if exists consumer_cursors; drop table if exists sync_logs;')
}
