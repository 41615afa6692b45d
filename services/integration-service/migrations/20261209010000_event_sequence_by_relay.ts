import type { Knex } from 'knex'
import { SYSTEM_SCOPE } from '@hub/service-kit'

// The relay numbers each connection's events now, not the change's transaction: a writer that took
// the number held the connection's counter row until its commit, so every change of a busy
// connection (each processed webhook, each write of a sync) waited for the previous one's commit.
// A row is written without its number and gets it with its stream position; rows already numbered
// keep theirs (the counter counted them). The relay works in the system scope.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    alter table event_outbox alter column sequence drop not null;
    create policy system_number on event_sequences using (${SYSTEM_SCOPE}) with check (${SYSTEM_SCOPE});
  `)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop policy if exists system_number on event_sequences;
    delete from event_outbox where sequence is null;
    alter table event_outbox alter column sequence set not null;
  `)
}
