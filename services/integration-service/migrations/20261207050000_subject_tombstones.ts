import type { Knex } from 'knex'
import { forceTenantRls } from '@hub/service-kit'

// A person whose data was erased (a data-subject request): keyed hashes of their email and of their
// provider ids, so a later sync or webhook that brings them back is redacted before it is stored.
// The email itself is never kept; the HMAC key comes from ENCRYPTION_KEYS (its `key_version`),
// so a database dump cannot confirm a guessed email.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table subject_tombstones (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null,
      request_id uuid not null,
      kind text not null check (kind in ('email', 'external_id')),
      key_version integer not null check (key_version >= 1),
      value_hash text not null check (value_hash ~ '^[0-9a-f]{64}$'),
      created_at timestamptz not null default now(),
      constraint subject_tombstones_unique unique (tenant_id, kind, key_version, value_hash)
    );
  `)
  await forceTenantRls(knex, 'subject_tombstones')
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table if exists subject_tombstones')
}
