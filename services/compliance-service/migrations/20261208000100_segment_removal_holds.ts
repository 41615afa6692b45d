import type { Knex } from 'knex'

const TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"

// remove_sealed_segment() also refuses while a legal hold is active anywhere in the tenant, and
// for a segment holding an entry younger than the hub's 365-day audit-log minimum. compliance-service
// checks both first (with the tenant's own period, never shorter) and answers 409; this is the
// database's word on it, so that no bug of the service, nor a statement injected into it, removes
// entries a hold or the minimum keeps. The tenant's longer period stays the service's rule: its
// default lives with the policy code, not here.
const body = (guards: string) => `
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
      end if;${guards}
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
    end`

const GUARDS = `
      if exists (select 1 from legal_holds h where h.tenant_id = p_tenant and h.released_at is null) then
        raise exception 'a legal hold is active in this tenant: segment % is kept', p_segment using errcode = 'object_in_use';
      end if;
      if exists (select 1 from audit_log l where l.tenant_id = p_tenant and l.seq between s.from_seq and s.through_seq and l.occurred_at >= now() - interval '365 days') then
        raise exception 'segment % holds entries younger than the 365-day audit-log minimum: nothing removed', p_segment using errcode = 'object_in_use';
      end if;`

const replace = (guards: string) => `
    create or replace function remove_sealed_segment(p_tenant uuid, p_segment integer, p_archive_sha256 text) returns integer
    language plpgsql security definer set search_path from current as $$${body(guards)}
    $$;`

export async function up(knex: Knex): Promise<void> {
  await knex.raw(replace(GUARDS))
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(replace(''))
}
