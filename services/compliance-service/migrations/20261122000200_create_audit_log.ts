import type { Knex } from 'knex'

const TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"

// The audit log auditors rely on: append-only for everyone, the owner included (triggers refuse
// UPDATE, DELETE and TRUNCATE), and hash-chained per tenant so a change made behind the
// database's back (triggers disabled by a superuser, a restored dump) is found by verification.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table audit_log (
      seq bigint generated always as identity primary key,
      tenant_id uuid not null,
      event_id uuid not null unique,
      source text not null,
      actor_type text not null check (actor_type in ('user', 'service')),
      actor_id text not null,
      action text not null,
      entity_type text not null,
      entity_id text not null,
      before jsonb,
      after jsonb,
      request_id text,
      ip text,
      occurred_at timestamptz not null,
      recorded_at timestamptz not null default now(),
      prev_hash text not null check (prev_hash ~ '^[0-9a-f]{64}$'),
      hash text not null check (hash ~ '^[0-9a-f]{64}$')
    );
    create index audit_log_tenant_idx on audit_log (tenant_id, seq);
    create index audit_log_entity_idx on audit_log (tenant_id, entity_type, entity_id, seq);

    create function audit_log_refuse_change() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_log is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
    end
    $$;
    create trigger audit_log_no_update_or_delete before update or delete on audit_log for each row execute function audit_log_refuse_change();
    create trigger audit_log_no_truncate before truncate on audit_log for each statement execute function audit_log_refuse_change();

    -- The service role was granted UPDATE and DELETE by the schema's default privileges: take
    -- them back, so an attempt is refused outright rather than matching no rows.
    do $$
    declare grantee_name text;
    begin
      for grantee_name in
        select distinct grantee from information_schema.role_table_grants
        where table_schema = current_schema() and table_name = 'audit_log' and privilege_type in ('UPDATE', 'DELETE', 'TRUNCATE') and grantee <> current_user
      loop
        execute format('revoke update, delete, truncate on audit_log from %I', grantee_name);
      end loop;
    end
    $$;

    alter table audit_log enable row level security;
    alter table audit_log force row level security;
    create policy tenant_read on audit_log for select using (tenant_id = ${TENANT});
    create policy tenant_append on audit_log for insert with check (tenant_id = ${TENANT});
  `)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table if exists audit_log; drop function if exists audit_log_refuse_change();')
}
