import type { Knex } from 'knex'

// The OAuth flow is bound to the browser that started it: a hash of the random value held in that
// browser's cookie. Rows written before this column existed have none and are refused; they
// expire within ten minutes anyway.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table oauth_states add column browser_binding_hash text')
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('alter table oauth_states drop column browser_binding_hash')
}
