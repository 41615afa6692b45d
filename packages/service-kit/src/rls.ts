// Row-level security as every migration sets it up: forced even for the owner, the tenant read
// from the transaction-local setting that Database.withTenant sets, and, for the few tables that
// cross-tenant jobs must reach, a `system` policy those jobs opt into per transaction. The migrator
// gives every `system` policy to the service's system role alone (systemRoleOf), which
// withSystemScope switches to: a tenant's statements meet only the tenant policy, so an index on
// tenant_id serves them.
import type { Knex } from 'knex'

export const TENANT_SETTING = "nullif(current_setting('app.tenant_id', true), '')::uuid"
export const SYSTEM_SCOPE = "current_setting('app.scope', true) = 'system'"

export async function forceTenantRls(knex: Knex, table: string, options: { system?: 'read' | 'all' } = {}): Promise<void> {
  await knex.raw(`
    alter table ${table} enable row level security;
    alter table ${table} force row level security;
    create policy tenant_isolation on ${table} using (tenant_id = ${TENANT_SETTING}) with check (tenant_id = ${TENANT_SETTING});
  `)
  if (options.system === 'read') await knex.raw(`create policy system_read on ${table} for select using (${SYSTEM_SCOPE})`)
  if (options.system === 'all') await knex.raw(`create policy system_all on ${table} using (${SYSTEM_SCOPE}) with check (${SYSTEM_SCOPE})`)
}
