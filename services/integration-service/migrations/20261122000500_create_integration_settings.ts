import type { Knex } from 'knex'
import { forceTenantRls } from '@hub/service-kit'

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    -- One settings document per (tenant, venue or none, integration type); its versions hold the content.
    create table integration_settings (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null,
      -- null: the tenant-level document every venue of the tenant inherits from.
      venue_id uuid,
      integration_type text not null check (integration_type in ('stripe', 'square', 'mailchimp', 'quickbooks')),
      current_version integer not null default 0 check (current_version >= 0),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      constraint integration_settings_scope_unique unique nulls not distinct (tenant_id, venue_id, integration_type)
    );

    -- Every change is a new row; older rows are kept for history, rollback and audit.
    create table integration_settings_versions (
      id uuid primary key default gen_random_uuid(),
      settings_id uuid not null references integration_settings(id) on delete cascade,
      tenant_id uuid not null,
      version integer not null check (version >= 1),
      -- Non-secret keys only.
      "values" jsonb not null default '{}'::jsonb,
      -- key -> AES-256-GCM envelope (packages/crypto), bound to (tenant, settings id, key).
      secrets jsonb not null default '{}'::jsonb,
      -- key -> masked display value: the only form a secret setting is ever shown in.
      masked jsonb not null default '{}'::jsonb,
      -- Oldest key version among the envelopes: what key rotation and the start-up check look at.
      min_key_version integer,
      change_kind text not null check (change_kind in ('replace', 'patch', 'rollback', 'import')),
      rolled_back_from integer,
      -- What changed relative to the previous version, secrets masked.
      changes jsonb not null default '[]'::jsonb,
      created_by text not null,
      created_at timestamptz not null default now(),
      constraint integration_settings_versions_unique unique (settings_id, version)
    );
    create index integration_settings_versions_key_version_idx on integration_settings_versions (min_key_version) where min_key_version is not null;
  `)
  await forceTenantRls(knex, 'integration_settings')
  // Key rotation and the start-up key check walk every tenant's envelopes (as for connections).
  await forceTenantRls(knex, 'integration_settings_versions', { system: 'all' })
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table if exists integration_settings_versions; drop table if exists integration_settings;')
}
