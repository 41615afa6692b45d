import type { Knex } from 'knex'

// The retention clean-up walks each tenant's stored webhook payloads and sync logs by age, and
// records by their (disconnected) connection, which the primary key already leads with.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create index if not exists webhook_inbox_age_idx on webhook_inbox (tenant_id, received_at);
    create index if not exists sync_logs_age_idx on sync_logs (tenant_id, created_at);
    create index if not exists connections_disconnected_idx on connections (tenant_id, disconnected_at) where status = 'disconnected';
  `)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists webhook_inbox_age_idx; drop index if exists sync_logs_age_idx; drop index if exists connections_disconnected_idx;')
}
