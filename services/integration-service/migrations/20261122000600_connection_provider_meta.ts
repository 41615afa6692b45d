import type { Knex } from 'knex'

// Non-secret facts a provider hands back at connect time that later calls need (Mailchimp's
// data centre from its OAuth metadata, for one).
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table connections add column provider_meta jsonb not null default '{}'::jsonb`)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('alter table connections drop column provider_meta')
}
