import type { Knex } from 'knex'
import { forceTenantRls } from '@hub/service-kit'

// The ids a full run found unchanged, one row per written batch. The run's closing sweep spares
// them, so a full run over unchanged data writes a narrow row per page instead of rewriting every
// unchanged record (a whole-tuple update and an entry in each of its indexes) to stamp it as seen.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table sync_run_seen (
      id uuid primary key default gen_random_uuid(),
      sync_log_id uuid not null,
      tenant_id uuid not null,
      connection_id uuid not null references connections(id) on delete cascade,
      entity text not null,
      external_ids text[] not null
    );
    create index sync_run_seen_run_idx on sync_run_seen (connection_id, entity, sync_log_id);
  `)
  await forceTenantRls(knex, 'sync_run_seen')
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table if exists sync_run_seen')
}
