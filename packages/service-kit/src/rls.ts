// Row-level security as every migration sets it up: forced even for the owner, the tenant read
// from the transaction-local setting that Database.withTenant sets, and, for the few tables that
// cross-tenant jobs must reach, a `system` policy those jobs opt into per transaction.
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

/**
 * `tenant_id = <the transaction's tenant>`, for a tenant's queries on the tables that also have a
 * system policy. Postgres ORs a table's permissive policies, and it cannot use an index for
 * `tenant_id = … OR <scope> = 'system'`: such a query reads every tenant's rows (a sequential scan,
 * or another index end to end) and row-level security drops all but the tenant's. Stated in the
 * query, the tenant's index is used; row-level security still decides what is visible. Only in a
 * tenant's transaction: the system scope has no tenant, so there it matches nothing.
 */
export function ownTenantRows(column = 'tenant_id'): string {
  return `${column} = ${TENANT_SETTING}`
}
