// Postgres through knex, connected as the service's own role (no BYPASSRLS). Tenant data is only
// ever touched inside `withTenant`, which sets `app.tenant_id` for that transaction so row-level
// security filters every statement, even one that forgets its WHERE clause.
import fp from 'fastify-plugin'
import knexFactory, { type Knex } from 'knex'

export interface Database {
  knex: Knex
  /** Runs `fn` in a transaction scoped to one tenant. */
  withTenant<T>(tenantId: string, fn: (trx: Knex.Transaction) => Promise<T>): Promise<T>
  /** Runs `fn` in a transaction with no tenant: RLS then shows no tenant rows at all. */
  transaction<T>(fn: (trx: Knex.Transaction) => Promise<T>): Promise<T>
  /**
   * Runs `fn` across tenants, for the few jobs that must (change feeds, relays). Only tables with
   * a `system` policy answer, and only to the statements that policy allows.
   */
  withSystemScope<T>(fn: (trx: Knex.Transaction) => Promise<T>): Promise<T>
}

declare module 'fastify' {
  interface FastifyInstance {
    db: Database
  }
}

export interface KnexOptions {
  poolMax?: number
  applicationName?: string
  /** SQL run on every new pooled connection (e.g. `set role`), before it is used. */
  onConnect?: string
}

type PgConnection = { query(sql: string, callback: (error: Error | null) => void): void }

export function createKnex(url: string, options: KnexOptions = {}): Knex {
  const { onConnect } = options
  return knexFactory({
    client: 'pg',
    connection: { connectionString: url, application_name: options.applicationName ?? 'venue-hub' },
    pool: {
      min: 0,
      max: options.poolMax ?? 10,
      ...(onConnect ? { afterCreate: (conn: PgConnection, done: (error: Error | null, conn: PgConnection) => void) => conn.query(onConnect, (error) => done(error, conn)) } : {}),
    },
    acquireConnectionTimeout: 10_000,
  })
}

export function createDatabase(knex: Knex): Database {
  return {
    knex,
    withTenant: (tenantId, fn) =>
      knex.transaction(async (trx) => {
        await trx.raw("select set_config('app.tenant_id', ?, true)", [tenantId])
        return fn(trx)
      }),
    transaction: (fn) => knex.transaction(fn),
    withSystemScope: (fn) =>
      knex.transaction(async (trx) => {
        await trx.raw("select set_config('app.scope', 'system', true)")
        return fn(trx)
      }),
  }
}

/** Postgres error classes that mean "the database is not reachable", not "the query is wrong". */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: string }).code ?? ''
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', '57P01', '57P03', '08006', '08001', '08004'].includes(code) || /Timeout acquiring a connection/.test(String((error as Error).message))
}

export default fp(
  async (fastify, opts: { url: string; poolMax?: number; service: string }) => {
    const knex = createKnex(opts.url, { poolMax: opts.poolMax, applicationName: opts.service })
    fastify.decorate('db', createDatabase(knex))
    fastify.addReadinessCheck('postgres', async () => {
      await knex.raw('select 1')
    })
    fastify.addHook('onClose', async () => {
      await knex.destroy()
    })
  },
  { name: '@hub/database', fastify: '5.x', dependencies: ['@hub/health'] },
)
