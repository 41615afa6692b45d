// Schema ownership and migrations. Each service owns one schema; the tables belong to the owner
// role `hub_owner`, and the service connects as its own login role that may read and write rows
// but cannot bypass row-level security or touch another service's schema.
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Knex } from 'knex'
import { createKnex } from './plugins/database.ts'

export const OWNER_ROLE = 'hub_owner'

/**
 * The role a service's cross-tenant jobs switch to (`withSystemScope`), named after its login role.
 * The `system` policies apply to it alone: the login role is a member (so it may `SET ROLE`) but
 * does not inherit it, so a tenant's statements meet only the tenant policy, which an index on
 * `tenant_id` serves. Were both policies the login role's, Postgres would OR them, and no index
 * serves `tenant_id = … OR <scope> = 'system'`: every tenant query would read every tenant's rows.
 */
export function systemRoleOf(appRole: string): string {
  return `${appRole}_system`
}

export interface SchemaSpec {
  /** Postgres schema the service owns, e.g. `venue`. */
  schema: string
  /** Login role the service runs as, e.g. `hub_venue`. */
  appRole: string
  /** Folder of timestamped `*.ts` migrations. */
  directory: string
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/

function ident(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`unsafe SQL identifier: ${name}`)
  return `"${name}"`
}

/**
 * Ignores the races between parallel processes setting up the same cluster-wide role: "already
 * exists" and "tuple concurrently updated" (two `ALTER ROLE`s or `GRANT`s of one role at once).
 */
async function ignoreDuplicate(run: () => Promise<unknown>): Promise<void> {
  try {
    await run()
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string }
    if (code === 'XX000' && /tuple concurrently updated/.test(message ?? '')) return
    if (code !== '42710' && code !== '23505' && code !== '42P06') throw error
  }
}

/**
 * The owner role, each login role and its system role. A login role is `NOINHERIT` (it holds its
 * own privileges and needs none of a role it belongs to) and a member of its system role, which
 * makes `SET ROLE` to it possible without the `system` policies applying to the login role itself.
 */
/**
 * Session defaults of every login role. A process that hangs or loses its network mid-transaction
 * would keep its row and advisory locks until the server noticed (about two hours by default), and
 * every worker waiting on them would wait as long: the server ends a session idle inside a
 * transaction for 5 min (no transaction here waits on anything but Postgres for that long; an
 * outbox delivery inside one is bounded by its HTTP timeout), and probes a silent client after
 * 30 s, three times 10 s apart. Set on the role, not sent at connect, so they hold through a
 * pooler (PgBouncer refuses startup options it does not track).
 */
export const ROLE_SESSION_DEFAULTS: Readonly<Record<string, string>> = {
  idle_in_transaction_session_timeout: '5min',
  tcp_keepalives_idle: '30',
  tcp_keepalives_interval: '10',
  tcp_keepalives_count: '3',
}

export async function ensureRoles(admin: Knex, roles: string[]): Promise<void> {
  const found = async (role: string) => ((await admin.raw('select rolinherit from pg_roles where rolname = ?', [role])) as { rows: Array<{ rolinherit: boolean }> }).rows[0]
  if (!(await found(OWNER_ROLE))) await ignoreDuplicate(() => admin.raw(`create role ${ident(OWNER_ROLE)} nologin`))
  for (const role of roles) {
    const login = await found(role)
    if (!login) await ignoreDuplicate(() => admin.raw(`create role ${ident(role)} login noinherit nosuperuser nobypassrls nocreatedb nocreaterole`))
    else if (login.rolinherit) await ignoreDuplicate(() => admin.raw(`alter role ${ident(role)} noinherit`))
    const system = systemRoleOf(role)
    if (!(await found(system))) await ignoreDuplicate(() => admin.raw(`create role ${ident(system)} nologin noinherit nosuperuser nobypassrls nocreatedb nocreaterole`))
    const member = (await admin.raw("select pg_has_role(?, ?, 'member') as yes", [role, system])) as { rows: Array<{ yes: boolean }> }
    if (!member.rows[0]?.yes) await ignoreDuplicate(() => admin.raw(`grant ${ident(system)} to ${ident(role)}`))
    const settings = (await admin.raw('select setconfig from pg_db_role_setting where setrole = to_regrole(?) and setdatabase = 0', [role])) as { rows: Array<{ setconfig: string[] | null }> }
    const current = settings.rows[0]?.setconfig ?? []
    for (const [name, value] of Object.entries(ROLE_SESSION_DEFAULTS)) {
      if (current.includes(`${name}=${value}`)) continue
      try {
        await ignoreDuplicate(() => admin.raw(`alter role ${ident(role)} set ${name} = '${value}'`))
      } catch (error) {
        // A role someone else created (Postgres 16+ lets a CREATEROLE user alter only the roles it
        // administers): the defaults are a safeguard, not a condition of the schema, so the
        // migration goes on and says what to set by hand.
        if ((error as { code?: string }).code !== '42501') throw error
        process.emitWarning(`could not set ${name} = '${value}' on role ${role} (${(error as Error).message}); set it as the role's administrator`, { code: 'HUB_ROLE_DEFAULTS' })
      }
    }
  }
}

/**
 * Gives the system role exactly the login role's privileges in `schema` (tables, sequences,
 * functions: what a migration revoked from the service, such as UPDATE on the audit log, the system
 * role lacks too), and moves every policy that opens the system scope onto that role. Only what
 * differs is granted, revoked or moved, so a run with nothing to change changes nothing (ALTER
 * POLICY locks its table against every reader until the migration commits).
 */
async function scopeSystemPolicies(owner: Knex, schema: string, appRole: string): Promise<void> {
  const system = systemRoleOf(appRole)
  await owner.transaction(async (trx) => {
    const granted = (await trx.raw(
      `select o.kind, o.name, a.privilege_type as privilege, a.grantee = to_regrole(?) as service
         from (select case c.relkind when 'S' then 'sequence' else 'table' end as kind, c.oid::regclass::text as name, c.relacl as acl
                 from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = ?
               union all
               select 'function', p.oid::regprocedure::text, p.proacl
                 from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = ?) o
        cross join lateral aclexplode(o.acl) a
        where a.grantee in (to_regrole(?), to_regrole(?))`,
      [appRole, schema, schema, appRole, system],
    )) as { rows: Array<{ kind: string; name: string; privilege: string; service: boolean }> }
    const held = (service: boolean) => new Map(granted.rows.filter((row) => row.service === service).map((row) => [`${row.kind} ${row.name} ${row.privilege}`, row]))
    const ofService = held(true)
    const ofSystem = held(false)
    for (const [key, { kind, name, privilege }] of ofService) if (!ofSystem.has(key)) await trx.raw(`grant ${privilege} on ${kind} ${name} to ${ident(system)}`)
    for (const [key, { kind, name, privilege }] of ofSystem) if (!ofService.has(key)) await trx.raw(`revoke ${privilege} on ${kind} ${name} from ${ident(system)}`)
    const policies = (await trx.raw(
      `select tablename, policyname from pg_policies
        where schemaname = ? and (coalesce(qual, '') like '%app.scope%' or coalesce(with_check, '') like '%app.scope%') and roles <> array[?]::name[]`,
      [schema, system],
    )) as { rows: Array<{ tablename: string; policyname: string }> }
    for (const { tablename, policyname } of policies.rows) await trx.raw(`alter policy ${ident(policyname)} on ${ident(schema)}.${ident(tablename)} to ${ident(system)}`)
  })
}

export async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const admin = createKnex(adminUrl, { poolMax: 1 })
  try {
    const found = await admin.raw('select 1 from pg_database where datname = ?', [database])
    if (found.rows.length === 0) await ignoreDuplicate(() => admin.raw(`create database ${ident(database)}`))
  } finally {
    await admin.destroy()
  }
}

export async function dropDatabase(adminUrl: string, database: string): Promise<void> {
  const admin = createKnex(adminUrl, { poolMax: 1 })
  try {
    await admin.raw(`drop database if exists ${ident(database)} with (force)`)
  } finally {
    await admin.destroy()
  }
}

class DirectorySource implements Knex.MigrationSource<string> {
  readonly directory: string
  constructor(directory: string) {
    this.directory = directory
  }
  async getMigrations(): Promise<string[]> {
    return (await readdir(this.directory)).filter((file) => /^\d{14}_[a-z0-9_]+\.(ts|js)$/.test(file)).sort()
  }
  /** The compiled `.js` of a migration keeps its `.ts` name: knex_migrations rows stay the same in both. */
  getMigrationName(migration: string): string {
    return migration.replace(/\.js$/, '.ts')
  }
  async getMigration(migration: string): Promise<Knex.Migration> {
    return (await import(pathToFileURL(join(this.directory, migration)).href)) as Knex.Migration
  }
}

/**
 * Migrations in the service's folder that its schema has not applied. Readiness uses it: a pod of a
 * new release whose migration Job has not run yet stays out of the load balancer instead of
 * answering 500s from a missing column.
 */
export async function pendingMigrations(knex: Knex, spec: Pick<SchemaSpec, 'schema' | 'directory'>): Promise<string[]> {
  const source = new DirectorySource(spec.directory)
  const expected = (await source.getMigrations()).map((file) => source.getMigrationName(file))
  let applied: string[]
  try {
    applied = ((await knex.raw(`select name from ${ident(spec.schema)}.knex_migrations`)) as { rows: Array<{ name: string }> }).rows.map((row) => row.name)
  } catch (error) {
    // 42P01: no knex_migrations table yet (3F000: no schema): nothing is applied.
    const code = (error as { code?: string }).code
    if (code === '42P01' || code === '3F000') return expected
    throw error
  }
  const done = new Set(applied)
  return expected.filter((name) => !done.has(name))
}

/**
 * Creates the roles and the schema if needed, then runs the service's migrations as the owner.
 * `adminUrl` must be allowed to create roles and `set role hub_owner` (the postgres superuser
 * locally; a dedicated migration user in production).
 */
export async function migrateSchema(adminUrl: string, spec: SchemaSpec, direction: 'latest' | 'rollback' = 'latest'): Promise<string[]> {
  const admin = createKnex(adminUrl, { poolMax: 1 })
  try {
    await ensureRoles(admin, [spec.appRole])
    const schema = ident(spec.schema)
    const role = ident(spec.appRole)
    await ignoreDuplicate(() => admin.raw(`create schema if not exists ${schema} authorization ${ident(OWNER_ROLE)}`))
    await admin.raw(`grant usage on schema ${schema} to ${role}, ${ident(systemRoleOf(spec.appRole))}`)
    await admin.raw(`alter default privileges for role ${ident(OWNER_ROLE)} in schema ${schema} grant select, insert, update, delete on tables to ${role}`)
    await admin.raw(`alter default privileges for role ${ident(OWNER_ROLE)} in schema ${schema} grant usage, select on sequences to ${role}`)
  } finally {
    await admin.destroy()
  }

  // Every migration runs as the owner so the tables it creates belong to hub_owner.
  const owner = createKnex(adminUrl, { poolMax: 1, onConnect: `set role ${ident(OWNER_ROLE)}; set search_path to ${ident(spec.schema)}, public` })
  try {
    const config: Knex.MigratorConfig = { migrationSource: new DirectorySource(spec.directory), schemaName: spec.schema, tableName: 'knex_migrations', disableMigrationsListValidation: false }
    const [, names] = (direction === 'rollback' ? await owner.migrate.rollback(config, true) : await owner.migrate.latest(config)) as [number, string[]]
    await scopeSystemPolicies(owner, spec.schema, spec.appRole)
    return names
  } finally {
    await owner.destroy()
  }
}
