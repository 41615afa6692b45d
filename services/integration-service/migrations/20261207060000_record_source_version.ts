import type { Knex } from 'knex'

// When the stored content of a record was known to be current: the provider's event time for a
// record written from a webhook's object, the moment the page was requested for a sync, the
// moment of the provider call for a fetched one. Every write is conditional on it (in SQL), so a
// webhook delivered late never overwrites newer data. Null for records written before it was kept:
// the next event about such a record asks the provider.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table records add column source_version timestamptz')
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('alter table records drop column if exists source_version')
}
