import type { Knex } from 'knex'

const TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"
const SYSTEM = "current_setting('app.scope', true) = 'system'"

// Retention policies (one row per version, never changed: the history is the audit of who set
// what) and legal holds (placed, then released once; never deleted). Both are tenant data under
// forced row-level security; the clean-up jobs read every tenant's through the system scope.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table retention_policies (
      tenant_id uuid not null,
      version integer not null check (version >= 1),
      disconnected_records_days integer not null,
      webhook_payloads_days integer not null,
      sync_logs_days integer not null,
      security_events_days integer not null,
      audit_log_days integer not null check (audit_log_days >= 365),
      changed_by text not null,
      changed_at timestamptz not null default now(),
      primary key (tenant_id, version)
    );
    create trigger retention_policies_append_only before update or delete on retention_policies for each row execute function append_only_refuse_change();

    create table legal_holds (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null,
      scope text not null check (scope in ('tenant', 'venue', 'connection')),
      scope_id uuid not null,
      reason text not null,
      placed_by text not null,
      placed_at timestamptz not null default now(),
      released_by text,
      released_at timestamptz,
      check ((released_at is null) = (released_by is null)),
      check (scope <> 'tenant' or scope_id = tenant_id)
    );
    -- One active hold per scope: placing it again is the same hold.
    create unique index legal_holds_active_idx on legal_holds (tenant_id, scope, scope_id) where released_at is null;
    create trigger legal_holds_never_deleted before delete on legal_holds for each row execute function append_only_refuse_change();

    -- The purge walks by age within a tenant.
    create index sync_logs_age_idx on sync_logs (tenant_id, source_created_at);
    create index security_events_age_idx on security_events (tenant_id, last_seen_at);
  `)
  await knex.raw(`
    alter table retention_policies enable row level security;
    alter table retention_policies force row level security;
    create policy tenant_read on retention_policies for select using (tenant_id = ${TENANT});
    create policy tenant_append on retention_policies for insert with check (tenant_id = ${TENANT});
    create policy system_read on retention_policies for select using (${SYSTEM});

    alter table legal_holds enable row level security;
    alter table legal_holds force row level security;
    create policy tenant_isolation on legal_holds for all using (tenant_id = ${TENANT}) with check (tenant_id = ${TENANT});
    create policy system_read on legal_holds for select using (${SYSTEM});
  `)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists sync_logs_age_idx; drop index if exists security_events_age_idx; drop table if exists legal_holds; drop table if exists retention_policies;')
}
