import type { Knex } from 'knex'
import { createAuditOutboxTable, forceTenantRls } from '@hub/service-kit'

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table venues (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null,
      name text not null check (length(name) between 1 and 200),
      slug text not null check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and length(slug) <= 64),
      timezone text not null,
      currency char(3) not null check (currency ~ '^[A-Z]{3}$'),
      address jsonb not null default '{}'::jsonb,
      capacity integer check (capacity is null or capacity >= 0),
      status text not null default 'active' check (status in ('active', 'archived')),
      created_by text not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      archived_at timestamptz,
      constraint venues_tenant_slug_unique unique (tenant_id, slug)
    );
    create index venues_tenant_created_idx on venues (tenant_id, created_at, id);
    create index venues_tenant_name_idx on venues (tenant_id, lower(name), id);

    create table venue_members (
      venue_id uuid not null references venues(id) on delete cascade,
      tenant_id uuid not null,
      user_id text not null check (length(user_id) between 1 and 200),
      role text not null check (role in ('manager', 'viewer')),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (venue_id, user_id)
    );
    create index venue_members_tenant_user_idx on venue_members (tenant_id, user_id);
  `)
  // Tenant isolation lives in the database, not in each query.
  for (const table of ['venues', 'venue_members']) await forceTenantRls(knex, table)
  await createAuditOutboxTable(knex)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table if exists audit_outbox; drop table if exists venue_members; drop table if exists venues;')
}
