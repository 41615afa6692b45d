import type { Knex } from 'knex'

// Repeated refusals are stored once per reporter window with a count and first/last seen, not a
// row each. Tenantless events (anonymous refusals) are listed for operators, hence their index.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    alter table security_events
      add column count integer not null default 1 check (count >= 1),
      add column first_seen_at timestamptz,
      add column last_seen_at timestamptz;
    update security_events set first_seen_at = occurred_at, last_seen_at = occurred_at;
    alter table security_events alter column first_seen_at set not null, alter column last_seen_at set not null;
    create index security_events_system_idx on security_events (occurred_at desc, id desc) where tenant_id is null;
  `)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop index if exists security_events_system_idx;
    alter table security_events drop column if exists last_seen_at, drop column if exists first_seen_at, drop column if exists count;
  `)
}
