import type { Knex } from 'knex'
import { createSecurityEventOutboxTable } from '@hub/service-kit'

// Security events wait here until the relay has delivered them to compliance-service, so a
// refusal seen while compliance-service is down or restarting is stored once it is back.
export async function up(knex: Knex): Promise<void> {
  await createSecurityEventOutboxTable(knex)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table if exists security_event_outbox')
}
