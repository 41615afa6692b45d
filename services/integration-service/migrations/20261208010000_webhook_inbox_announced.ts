import type { Knex } from 'knex'

// When `integration.webhook.received` was published for a stored event. It used to be published
// in the acknowledgement's own transaction, which held the connection's event counter until the
// commit and so let one connection's deliveries be acknowledged only one after another; it is now
// published when the event is handed to the queue, once per row (this column is the guard), before
// the job exists. Rows stored before this column were published at intake: the default marks them
// without rewriting the table, and is then dropped so new rows start unannounced.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table webhook_inbox add column announced_at timestamptz default now()')
  await knex.raw('alter table webhook_inbox alter column announced_at drop default')
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('alter table webhook_inbox drop column if exists announced_at')
}
