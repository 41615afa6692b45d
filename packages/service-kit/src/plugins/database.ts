// Postgres through knex, connected as the service's own role (no BYPASSRLS). Tenant data is only
// ever touched inside `withTenant`, which sets `app.tenant_id` for that transaction so row-level
// security filters every statement, even one that forgets its WHERE clause.
import { createRequire } from 'node:module'
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

// Every tenant-scoped transaction used to open with two round trips, `BEGIN` and then the
// `set_config` that scopes it. Sent as one simple-protocol query ("BEGIN; select set_config(…)")
// they are one socket write and one wait: on the hot paths (a venue read, a webhook's
// acknowledgement) a transaction is three or four statements, so that is a quarter to a third
// of them. knex has no hook for the opening statement, so its Postgres client is extended here:
// a transaction whose config names an opening scope sends it with its BEGIN. knex is pinned by
// the lockfile and the kit's database test checks the round trips, so a knex upgrade that
// changes these internals fails there, not in production.
const OPENING = Symbol('hub.transaction-opening')
type TransactionConfig = Knex.TransactionConfig & { [OPENING]?: string }
type KnexTransactionClass = new (client: unknown, container: unknown, config?: TransactionConfig, outerTx?: unknown) => { begin(conn: unknown): Promise<unknown>; query(conn: unknown, sql: string): Promise<unknown> }
const require = createRequire(import.meta.url)
const PgClient = require('knex/lib/dialects/postgres/index.js') as new (config: Knex.Config) => object
const PgTransaction = require('knex/lib/dialects/postgres/execution/pg-transaction.js') as KnexTransactionClass

class ScopedPgTransaction extends PgTransaction {
  private readonly opening: string | undefined
  constructor(client: unknown, container: unknown, config?: TransactionConfig, outerTx?: unknown) {
    super(client, container, config, outerTx)
    // Read before knex begins: the constructor only queues the connection's acquisition.
    this.opening = config?.[OPENING]
  }
  override begin(conn: unknown): Promise<unknown> {
    return this.opening ? this.query(conn, `BEGIN; ${this.opening}`) : super.begin(conn)
  }
}

class ScopedPgClient extends PgClient {
  transaction(container: unknown, config?: TransactionConfig, outerTx?: unknown) {
    return new ScopedPgTransaction(this, container, config, outerTx)
  }
}

// Inlined into SQL, so only a canonical UUID is (anything else is bound, as before, at the cost
// of its own round trip). Tenant ids are UUIDs everywhere they come from.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function createKnex(url: string, options: KnexOptions = {}): Knex {
  const { onConnect } = options
  return knexFactory({
    client: ScopedPgClient as unknown as typeof knexFactory.Client,
    // The client notices a vanished server too (the server's side of the keepalives, and the bound
    // on a transaction left idle, are set on each service's role: ensureRoles in migrations.ts).
    connection: { connectionString: url, application_name: options.applicationName ?? 'venue-hub', keepAlive: true, keepAliveInitialDelayMillis: 30_000 },
    pool: {
      min: 0,
      max: options.poolMax ?? 10,
      ...(onConnect ? { afterCreate: (conn: PgConnection, done: (error: Error | null, conn: PgConnection) => void) => conn.query(onConnect, (error) => done(error, conn)) } : {}),
    },
    acquireConnectionTimeout: 10_000,
  })
}

export interface DatabaseOptions {
  /**
   * The role `withSystemScope` switches to (`systemRoleOf(appRole)`), the only role the `system`
   * policies apply to. `null` only for an administrator's connection, where the scope setting alone
   * is made: a service's connection given `null` would find its system scope empty, so the choice
   * is spelled out at every call.
   */
  systemRole: string | null
}

const ROLE = /^[a-z_][a-z0-9_]{0,62}$/

export function createDatabase(knex: Knex, options: DatabaseOptions): Database {
  const { systemRole } = options
  if (systemRole !== null && !ROLE.test(systemRole)) throw new Error(`unsafe role name: ${systemRole}`)
  // The role is transaction-local like the setting: both are gone at COMMIT or ROLLBACK.
  const systemOpening = `select set_config('app.scope', 'system', true)${systemRole ? `, set_config('role', '${systemRole}', true)` : ''}`
  return {
    knex,
    withTenant: (tenantId, fn) =>
      UUID.test(tenantId)
        ? knex.transaction(fn, { [OPENING]: `select set_config('app.tenant_id', '${tenantId}', true)` } as TransactionConfig)
        : knex.transaction(async (trx) => {
            await trx.raw("select set_config('app.tenant_id', ?, true)", [tenantId])
            return fn(trx)
          }),
    transaction: (fn) => knex.transaction(fn),
    withSystemScope: (fn) => knex.transaction(fn, { [OPENING]: systemOpening } as TransactionConfig),
  }
}

/** Postgres error classes that mean "the database is not reachable", not "the query is wrong". */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: string }).code ?? ''
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', '57P01', '57P03', '08006', '08001', '08004'].includes(code) || /Timeout acquiring a connection/.test(String((error as Error).message))
}

export default fp(
  async (fastify, opts: { url: string; poolMax?: number; service: string; systemRole: string | null }) => {
    const knex = createKnex(opts.url, { poolMax: opts.poolMax, applicationName: opts.service })
    fastify.decorate('db', createDatabase(knex, { systemRole: opts.systemRole }))
    fastify.addReadinessCheck('postgres', async () => {
      await knex.raw('select 1')
    })
    fastify.addHook('onClose', async () => {
      await knex.destroy()
    })
  },
  { name: '@hub/database', fastify: '5.x', dependencies: ['@hub/health'] },
)
