import type { Knex } from 'knex'

const TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"
const SYSTEM = "current_setting('app.scope', true) = 'system'"

/** Takes back UPDATE, DELETE and TRUNCATE the schema's default privileges gave the service role. */
const revokeChanges = (table: string) => `
  do $$
  declare grantee_name text;
  begin
    for grantee_name in
      select distinct grantee from information_schema.role_table_grants
      where table_schema = current_schema() and table_name = '${table}' and privilege_type in ('UPDATE', 'DELETE', 'TRUNCATE') and grantee <> current_user
    loop
      execute format('revoke update, delete, truncate on ${table} from %I', grantee_name);
    end loop;
  end
  $$;`

// Signed digests of each tenant's audit chain head. A digest signs the head (sequence number and
// hash) and the hash of the tenant's previous digest, with an Ed25519 key only compliance-service
// holds: someone with database superuser rights can rewrite rows and even recompute the chain,
// but cannot make the rewritten head match a digest signed before. Both tables are append-only
// like the log itself; a public key, once used, is never removed, so old digests stay verifiable
// after the private key is rotated out.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create function append_only_refuse_change() returns trigger language plpgsql as $$
    begin
      raise exception '% is append-only: % refused', tg_table_name, tg_op using errcode = 'insufficient_privilege';
    end
    $$;

    create table audit_signing_keys (
      key_id text primary key,
      algorithm text not null check (algorithm = 'Ed25519'),
      public_key_pem text not null,
      first_seen_at timestamptz not null default now()
    );

    create table audit_digests (
      tenant_id uuid not null,
      digest_no integer not null check (digest_no >= 1),
      head_seq bigint not null,
      head_hash text not null check (head_hash ~ '^[0-9a-f]{64}$'),
      previous_digest_hash text not null check (previous_digest_hash ~ '^[0-9a-f]{64}$'),
      signed_at timestamptz not null,
      key_id text not null references audit_signing_keys (key_id),
      -- The exact bytes that were signed; the columns above are copies for querying.
      payload text not null,
      digest_hash text not null check (digest_hash ~ '^[0-9a-f]{64}$'),
      signature text not null,
      primary key (tenant_id, digest_no)
    );
    create index audit_digests_head_idx on audit_digests (tenant_id, head_seq);

    create trigger audit_signing_keys_append_only before update or delete on audit_signing_keys for each row execute function append_only_refuse_change();
    create trigger audit_signing_keys_no_truncate before truncate on audit_signing_keys for each statement execute function append_only_refuse_change();
    create trigger audit_digests_append_only before update or delete on audit_digests for each row execute function append_only_refuse_change();
    create trigger audit_digests_no_truncate before truncate on audit_digests for each statement execute function append_only_refuse_change();
    ${revokeChanges('audit_signing_keys')}
    ${revokeChanges('audit_digests')}

    -- Public keys are public: anyone may read them; only the service, in system scope, adds one.
    alter table audit_signing_keys enable row level security;
    alter table audit_signing_keys force row level security;
    create policy anyone_read on audit_signing_keys for select using (true);
    create policy system_register on audit_signing_keys for insert with check (${SYSTEM});

    alter table audit_digests enable row level security;
    alter table audit_digests force row level security;
    create policy tenant_read on audit_digests for select using (tenant_id = ${TENANT});
    create policy tenant_append on audit_digests for insert with check (tenant_id = ${TENANT});

    -- The hourly job lists the tenants that have a chain; it signs each inside that tenant's scope.
    create policy system_read on audit_log for select using (${SYSTEM});
  `)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop policy if exists system_read on audit_log;
    drop table if exists audit_digests;
    drop table if exists audit_signing_keys;
    drop function if exists append_only_refuse_change();
  `)
}
