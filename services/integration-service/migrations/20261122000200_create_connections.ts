import type { Knex } from 'knex'
import { forceTenantRls } from '@hub/service-kit'

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table connections (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null,
      venue_id uuid not null,
      provider text not null check (provider in ('stripe', 'square', 'mailchimp', 'quickbooks')),
      auth_type text not null check (auth_type in ('api_key', 'oauth2')),
      status text not null default 'pending' check (status in ('pending', 'active', 'error', 'needs_reauth', 'disconnected')),
      status_reason text,
      account_id text,
      account_name text,
      -- field -> AES-256-GCM envelope (packages/crypto), bound to (tenant, connection, field).
      secrets jsonb not null default '{}'::jsonb,
      -- Oldest key version among the envelopes: what key rotation and the start-up check look at.
      min_key_version integer,
      -- field -> masked display value; the only form a secret ever leaves the service in.
      masked jsonb not null default '{}'::jsonb,
      token_expires_at timestamptz,
      webhook_endpoint_id text,
      created_by text not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      disconnected_at timestamptz
    );
    create unique index connections_one_live_per_provider on connections (tenant_id, venue_id, provider) where status <> 'disconnected';
    create index connections_tenant_created_idx on connections (tenant_id, created_at, id);
    create index connections_key_version_idx on connections (min_key_version) where min_key_version is not null;

    create table oauth_states (
      id uuid primary key default gen_random_uuid(),
      -- Only a hash is kept: a database read does not hand out usable states.
      state_hash text not null unique,
      tenant_id uuid not null,
      venue_id uuid not null,
      user_id text not null,
      provider text not null,
      code_verifier text,
      redirect_uri text not null,
      expires_at timestamptz not null,
      used_at timestamptz,
      created_at timestamptz not null default now()
    );
    create index oauth_states_expiry_idx on oauth_states (expires_at);
  `)
  // Key rotation and the start-up key check walk every tenant's envelopes.
  await forceTenantRls(knex, 'connections', { system: 'all' })
  // The provider's redirect carries no token: the callback finds its state by hash alone.
  await forceTenantRls(knex, 'oauth_states', { system: 'all' })
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table if exists oauth_states; drop table if exists connections;')
}
