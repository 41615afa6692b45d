import type { Knex } from 'knex'

const TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"
const SYSTEM = "current_setting('app.scope', true) = 'system'"

// Data-subject requests (export or erase of one person's data) and the job state that runs them:
// a Postgres-backed queue — a runner claims a row with a lease (FOR UPDATE SKIP LOCKED), and a
// request whose runner died is claimed again when its lease lapses. Every step is idempotent, so
// running a request twice gives the same outcome.
//
// `subject` holds the identifiers in clear only while the request is open; it is cleared when the
// request ends, leaving `subject_masked`. An erase also clears earlier exports that mention the
// person, so after an erase no row here holds their email.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table subject_requests (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null,
      type text not null check (type in ('export', 'erase')),
      status text not null default 'queued' check (status in ('queued', 'running', 'succeeded', 'failed')),
      subject jsonb,
      subject_masked jsonb not null,
      requested_by text not null,
      progress integer not null default 0 check (progress between 0 and 100),
      step text,
      attempts integer not null default 0,
      lease_until timestamptz,
      outcome jsonb,
      export_document jsonb,
      error_code text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      started_at timestamptz,
      finished_at timestamptz,
      check (status in ('succeeded', 'failed') or subject is not null),
      check (status in ('queued', 'running') or subject is null)
    );
    create index subject_requests_tenant_idx on subject_requests (tenant_id, created_at desc, id);
    create index subject_requests_open_idx on subject_requests (created_at) where status in ('queued', 'running');

    alter table subject_requests enable row level security;
    alter table subject_requests force row level security;
    create policy tenant_isolation on subject_requests using (tenant_id = ${TENANT}) with check (tenant_id = ${TENANT});
    -- The runner claims open requests of every tenant, then works on each in its tenant's scope.
    create policy system_all on subject_requests using (${SYSTEM}) with check (${SYSTEM});
  `)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table if exists subject_requests')
}
