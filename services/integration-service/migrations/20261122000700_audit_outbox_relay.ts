import type { Knex } from 'knex'
import { allowAuditRelay } from '@hub/service-kit'

// The relay to compliance-service marks outbox rows delivered, across tenants.
export async function up(knex: Knex): Promise<void> {
  await allowAuditRelay(knex)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop policy if exists system_deliver on audit_outbox')
}
