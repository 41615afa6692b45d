import type { Knex } from 'knex'

const TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"

const revoke = (table: string, privileges: string[]) => `
  do $$
  declare grantee_name text;
  begin
    for grantee_name in
      select distinct grantee from information_schema.role_table_grants
      where table_schema = current_schema() and table_name = '${table}' and privilege_type in (${privileges.map((p) => `'${p.toUpperCase()}'`).join(', ')}) and grantee <> current_user
    loop
      execute format('revoke ${privileges.join(', ')} on ${table} from %I', grantee_name);
    end loop;
  end
  $$;`

// Audit log segments: a stretch of one tenant's chain is sealed (its checkpoint — first and last
// sequence number, the hash it starts from and its head hash, the SHA-256 of its archive and the
// digest that signs its head — is kept here for good), exported, and only then removed.
//
// Why a SECURITY DEFINER function rather than a DELETE privilege: the service role keeps no DELETE
// on audit_log at all, so no bug or injected statement of the service can remove an entry. The
// one way to remove any is remove_sealed_segment(), which runs as the table's owner and removes
// exactly one sealed segment, whole, in the caller's tenant, when the caller names the archive's
// hash. The append-only trigger still refuses every other DELETE, the owner's and a superuser's
// included: it lets a row go only while remove_sealed_segment's transaction-local flag names that
// row's own segment, and only rows inside a sealed checkpoint have one. Setting the flag by hand
// therefore achieves nothing the function would not do (remove a sealed, archived segment); a
// superuser who disables the trigger is what the signed digests are for. UPDATE and TRUNCATE stay
// refused for everyone.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table audit_segments (
      tenant_id uuid not null,
      segment_no integer not null check (segment_no >= 1),
      from_seq bigint not null,
      through_seq bigint not null check (through_seq >= from_seq),
      first_event_id uuid not null,
      first_prev_hash text not null check (first_prev_hash ~ '^[0-9a-f]{64}$'),
      head_hash text not null check (head_hash ~ '^[0-9a-f]{64}$'),
      entry_count integer not null check (entry_count >= 1),
      digest_no integer not null,
      archive_sha256 text not null check (archive_sha256 ~ '^[0-9a-f]{64}$'),
      sealed_at timestamptz not null,
      primary key (tenant_id, segment_no),
      foreign key (tenant_id, digest_no) references audit_digests (tenant_id, digest_no)
    );
    create unique index audit_segments_range_idx on audit_segments (tenant_id, from_seq);

    create table audit_segment_removals (
      tenant_id uuid not null,
      segment_no integer not null,
      removed_entries integer not null,
      removed_at timestamptz not null default now(),
      primary key (tenant_id, segment_no),
      foreign key (tenant_id, segment_no) references audit_segments (tenant_id, segment_no)
    );

    create trigger audit_segments_append_only before update or delete on audit_segments for each row execute function append_only_refuse_change();
    create trigger audit_segments_no_truncate before truncate on audit_segments for each statement execute function append_only_refuse_change();
    create trigger audit_segment_removals_append_only before update or delete on audit_segment_removals for each row execute function append_only_refuse_change();
    create trigger audit_segment_removals_no_truncate before truncate on audit_segment_removals for each statement execute function append_only_refuse_change();
    ${revoke('audit_segments', ['update', 'delete', 'truncate'])}
    -- Only remove_sealed_segment() records a removal.
    ${revoke('audit_segment_removals', ['insert', 'update', 'delete', 'truncate'])}

    alter table audit_segments enable row level security;
    alter table audit_segments force row level security;
    create policy tenant_read on audit_segments for select using (tenant_id = ${TENANT});
    create policy tenant_append on audit_segments for insert with check (tenant_id = ${TENANT});
    alter table audit_segment_removals enable row level security;
    alter table audit_segment_removals force row level security;
    create policy tenant_read on audit_segment_removals for select using (tenant_id = ${TENANT});
    create policy tenant_append on audit_segment_removals for insert with check (tenant_id = ${TENANT});
    -- Row-level security is forced on audit_log for its owner too: without a DELETE policy even
    -- remove_sealed_segment() would see no row. The service role holds no DELETE privilege, so the
    -- policy opens nothing to it; the trigger decides which rows may go.
    create policy sealed_segment_removal on audit_log for delete using (tenant_id = ${TENANT});

    -- search_path fixed: the trigger runs in whatever session deletes, superusers' included.
    create or replace function audit_log_refuse_change() returns trigger language plpgsql set search_path from current as $$
    begin
      if tg_op = 'DELETE' then
        if current_setting('compliance.removing_segment', true) = old.tenant_id::text || ':' || (
          select s.segment_no::text from audit_segments s where s.tenant_id = old.tenant_id and old.seq between s.from_seq and s.through_seq
        ) then
          return old;
        end if;
      end if;
      raise exception 'audit_log is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
    end
    $$;

    create function remove_sealed_segment(p_tenant uuid, p_segment integer, p_archive_sha256 text) returns integer
    language plpgsql security definer set search_path from current as $$
    declare
      s audit_segments;
      removed integer;
    begin
      if p_tenant is distinct from ${TENANT} then
        raise exception 'a segment is removed in its own tenant''s scope' using errcode = 'insufficient_privilege';
      end if;
      select * into s from audit_segments where tenant_id = p_tenant and segment_no = p_segment;
      if not found then
        raise exception 'no sealed segment % in this tenant', p_segment using errcode = 'no_data_found';
      end if;
      if exists (select 1 from audit_segment_removals r where r.tenant_id = p_tenant and r.segment_no = p_segment) then
        return 0;
      end if;
      if s.archive_sha256 is distinct from p_archive_sha256 then
        raise exception 'the archive hash is not the sealed one' using errcode = 'check_violation';
      end if;
      perform set_config('compliance.removing_segment', p_tenant::text || ':' || p_segment::text, true);
      delete from audit_log where tenant_id = p_tenant and seq between s.from_seq and s.through_seq;
      get diagnostics removed = row_count;
      perform set_config('compliance.removing_segment', '', true);
      -- The whole segment or nothing: a count that differs means the rows are not what was sealed.
      if removed <> s.entry_count then
        raise exception 'segment % was sealed with % entries but % are stored: nothing removed', p_segment, s.entry_count, removed using errcode = 'data_corrupted';
      end if;
      insert into audit_segment_removals (tenant_id, segment_no, removed_entries) values (p_tenant, p_segment, removed);
      return removed;
    end
    $$;
    revoke all on function remove_sealed_segment(uuid, integer, text) from public;
    do $$
    declare grantee_name text;
    begin
      for grantee_name in
        select distinct grantee from information_schema.role_table_grants
        where table_schema = current_schema() and table_name = 'audit_log' and privilege_type = 'INSERT' and grantee <> current_user
      loop
        execute format('grant execute on function remove_sealed_segment(uuid, integer, text) to %I', grantee_name);
      end loop;
    end
    $$;
  `)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop function if exists remove_sealed_segment(uuid, integer, text);
    drop policy if exists sealed_segment_removal on audit_log;
    create or replace function audit_log_refuse_change() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_log is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
    end
    $$;
    drop table if exists audit_segment_removals;
    drop table if exists audit_segments;
  `)
}
