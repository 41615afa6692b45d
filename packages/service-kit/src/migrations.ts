// Schema ownership and migrations. Each service owns one schema; the tables belong to the owner
// role `hub_owner`, and the service connects as its own login role that may read and write rows
// but cannot bypass row-level security or touch another service's schema.
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Knex } from 'knex'
import { createKnex } from './plugins/database.ts'

export const OWNER_ROLE = 'hub_owner'

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

/** Ignores "already exists" races between parallel processes creating the same role. */
async function ignoreDuplicate(run: () => Promise<unknown>): Promise<void> {
  try {
    await run()
  } catch (error) {
    const code = (error as { code?: string }).code
    if (code !== '42710' && code !== '23505' && code !== '42P06') throw error
  }
}

export async function ensureRoles(admin: Knex, roles: string[]): Promise<void> {
  const exists = async (role: string) => (await admin.raw('select 1 from pg_roles where rolname = ?', [role])).rows.length > 0
  if (!(await exists(OWNER_ROLE))) await ignoreDuplicate(() => admin.raw(`create role ${ident(OWNER_ROLE)} nologin`))
  for (const role of roles) {
    if (!(await exists(role))) {
      await ignoreDuplicate(() => admin.raw(`create role ${ident(role)} login nosuperuser nobypassrls nocreatedb nocreaterole`))
    }
  }
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
    await admin.raw(`grant usage on schema ${schema} to ${role}`)
    await admin.raw(`alter default privileges for role ${ident(OWNER_ROLE)} in schema ${schema} grant select, insert, update, delete on tables to ${role}`)
    await admin.raw(`alter default privileges for role ${ident(OWNER_ROLE)} in schema ${schema} grant usage, select on sequences to ${role}`)
  } finally {
    await admin.destroy()
  }

  // Every migration runs as the owner so the tables it creates belong to hub_owner.
  const owner = createKnex(adminUrl, { poolMax: 1, onConnect: `set role ${ident(OWNER_ROLE)}; set search_path to ${ident(spec.schema)}, public` })
  try {
    const config: Knex.MigratorConfig = { migrationSource: new DirectorySource(spec.directory), schemaName: spec.schema, tableName: 'knex_migrations', disableMigrationsListValidation: false }
    if (direction === 'rollback') {
      const [, names] = (await owner.migrate.rollback(config, true)) as [number, string[]]
      return names
    }
    const [, names] = (await owner.migrate.latest(config)) as [number, string[]]
    return names
  } finally {
    await owner.destroy()
  }
}
