import type { Knex } from 'knex'
import { forceTenantRls } from '@hub/service-kit'

// Reconciliation: runs that compare a provider's records with the hub's copy, the mismatches each
// run found, the ids a run saw at the provider (its checkpointed notes, dropped when it ends), and
// each connection's reconciliation schedule.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table reconciliation_runs (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null,
      venue_id uuid not null,
      connection_id uuid not null references connections(id) on delete cascade,
      provider text not null,
      entity text not null,
      mode text not null check (mode in ('full', 'quick')),
      trigger text not null check (trigger in ('manual', 'scheduled', 'escalation')),
      status text not null default 'queued' check (status in ('queued', 'running', 'clean', 'drift', 'failed')),
      -- A delivery of a scheduled or escalating job creates its run once, whatever the redeliveries.
      job_key text,
      job_id text,
      requested_by text,
      period_from timestamptz,
      period_to timestamptz,
      -- The checkpoint: the adapter cursor after the last page compared, with what was counted up to it.
      cursor text,
      pages integer not null default 0,
      provider_count integer not null default 0,
      hub_count integer,
      provider_totals jsonb not null default '{}'::jsonb,
      hub_totals jsonb,
      missing_in_hub integer not null default 0,
      missing_at_provider integer not null default 0,
      changed integer not null default 0,
      amount_mismatch integer not null default 0,
      repaired integer not null default 0,
      repaired_at timestamptz,
      escalated_run_id uuid,
      error_code text,
      error_message text,
      -- Millisecond precision, as the list cursor carries it.
      created_at timestamptz not null default date_trunc('milliseconds', now()),
      started_at timestamptz,
      finished_at timestamptz,
      duration_ms integer
    );
    create unique index reconciliation_runs_job_key_idx on reconciliation_runs (connection_id, job_key) where job_key is not null;
    -- One active run per (connection, entity, mode): a second request is refused, not run twice.
    create unique index reconciliation_runs_active_idx on reconciliation_runs (connection_id, entity, mode) where status in ('queued', 'running');
    create index reconciliation_runs_list_idx on reconciliation_runs (tenant_id, created_at desc, id desc);
    create index reconciliation_runs_latest_idx on reconciliation_runs (connection_id, mode, finished_at desc) where finished_at is not null;

    create table reconciliation_items (
      id uuid primary key default gen_random_uuid(),
      seq bigint generated always as identity,
      tenant_id uuid not null,
      run_id uuid not null references reconciliation_runs(id) on delete cascade,
      kind text not null check (kind in ('missing_in_hub', 'missing_at_provider', 'changed', 'amount_mismatch')),
      -- The external id, or currency:day for amount_mismatch: what makes a mismatch unique in its run.
      key text not null,
      external_id text,
      provider_hash text,
      hub_hash text,
      currency text,
      day text,
      provider_count integer,
      hub_count integer,
      provider_amount bigint,
      hub_amount bigint,
      repair_status text check (repair_status in ('repaired', 'still_different', 'failed')),
      repaired_at timestamptz,
      created_at timestamptz not null default now(),
      constraint reconciliation_items_unique unique (run_id, kind, key)
    );
    create index reconciliation_items_run_idx on reconciliation_items (run_id, seq);

    create table reconciliation_seen (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null,
      run_id uuid not null references reconciliation_runs(id) on delete cascade,
      external_ids text[] not null
    );
    create index reconciliation_seen_run_idx on reconciliation_seen (run_id);

    create table reconciliation_schedules (
      connection_id uuid primary key references connections(id) on delete cascade,
      tenant_id uuid not null,
      venue_id uuid not null,
      enabled boolean not null default true,
      daily_hour integer not null default 3 check (daily_hour between 0 and 23),
      timezone text not null default 'UTC',
      quick_check boolean not null default true,
      auto_repair boolean not null default false,
      updated_by text,
      updated_at timestamptz not null default now()
    );
  `)
  // Metrics and the schedule restore read across tenants; nothing writes across them.
  await forceTenantRls(knex, 'reconciliation_runs', { system: 'read' })
  await forceTenantRls(knex, 'reconciliation_items')
  await forceTenantRls(knex, 'reconciliation_seen')
  await forceTenantRls(knex, 'reconciliation_schedules', { system: 'read' })
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table if exists reconciliation_schedules, reconciliation_seen, reconciliation_items, reconciliation_runs')
}
