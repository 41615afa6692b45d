import type { Knex } from 'knex'
import { forceTenantRls } from '@hub/service-kit'

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    -- A tenant's own receiver of the hub's events (Standard Webhooks deliveries).
    create table webhook_endpoints (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null,
      url text not null check (length(url) <= 2048),
      description text not null default '' check (length(description) <= 500),
      event_types text[] not null check (cardinality(event_types) >= 1),
      -- null: every venue of the tenant.
      venue_id uuid,
      enabled boolean not null default true,
      disabled_reason text check (disabled_reason in ('manual', 'failing')),
      disabled_at timestamptz,
      -- field -> AES-256-GCM envelope bound to (tenant, endpoint id, field): signingSecret, previousSigningSecret.
      secrets jsonb not null,
      min_key_version integer,
      -- Until then deliveries are signed with the previous secret too (rotation overlap).
      previous_secret_expires_at timestamptz,
      -- Failures since the last success: what disabling an endpoint that keeps failing looks at.
      consecutive_failures integer not null default 0,
      failing_since timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create index webhook_endpoints_tenant_idx on webhook_endpoints (tenant_id, created_at desc, id desc);
    create index webhook_endpoints_key_version_idx on webhook_endpoints (min_key_version) where min_key_version is not null;

    -- One per event per matching endpoint: fanning an event out twice inserts nothing the second time.
    create table webhook_messages (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null,
      endpoint_id uuid not null references webhook_endpoints(id) on delete cascade,
      event_id uuid not null,
      event_type text not null,
      -- The body of every delivery: the event's envelope, exactly as published.
      payload jsonb not null,
      status text not null default 'pending' check (status in ('pending', 'succeeded', 'failed')),
      -- Attempts made so far; the Bull job of the next one is named by it, so a job seen twice claims once.
      attempt_count integer not null default 0,
      -- Position in the retry schedule (a replay starts it again).
      retry_step integer not null default 0,
      -- When the next attempt is due (or, while one runs, when its lease lapses); null once settled.
      next_attempt_at timestamptz,
      last_error text,
      delivered_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      constraint webhook_messages_event_unique unique (endpoint_id, event_id)
    );
    create index webhook_messages_endpoint_idx on webhook_messages (endpoint_id, created_at desc, id desc);
    create index webhook_messages_due_idx on webhook_messages (next_attempt_at) where status = 'pending';

    -- Every request made for a message: outcome, status code, latency and the start of the answer.
    create table webhook_attempts (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null,
      message_id uuid not null references webhook_messages(id) on delete cascade,
      endpoint_id uuid not null,
      attempt_number integer not null check (attempt_number >= 1),
      outcome text not null check (outcome in ('succeeded', 'failed', 'refused')),
      response_status integer,
      latency_ms integer not null check (latency_ms >= 0),
      -- At most 1 KiB of the receiver's answer; never a secret of ours (we send none in clear).
      response_snippet text check (length(response_snippet) <= 1024),
      error text check (length(error) <= 500),
      created_at timestamptz not null default now(),
      constraint webhook_attempts_number_unique unique (message_id, attempt_number)
    );
    create index webhook_attempts_message_idx on webhook_attempts (message_id, attempt_number desc);
  `)
  // Key rotation walks every tenant's endpoint secrets, and the worker's sweeper finds due
  // messages of every tenant (as for connections and the webhook inbox).
  await forceTenantRls(knex, 'webhook_endpoints', { system: 'all' })
  await forceTenantRls(knex, 'webhook_messages', { system: 'all' })
  await forceTenantRls(knex, 'webhook_attempts')
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table if exists webhook_attempts; drop table if exists webhook_messages; drop table if exists webhook_endpoints;')
}
