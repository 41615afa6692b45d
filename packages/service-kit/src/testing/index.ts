// Helpers for tests against real Postgres and Redis: each test file gets its own database and Redis
// key prefix, and drops them afterwards, so tests never collide with each other or a dev stack.
import { randomBytes, randomUUID } from 'node:crypto'
import { after } from 'node:test'
import { createServer } from 'node:net'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { Redis } from 'ioredis'
import type { Knex } from 'knex'
import { createKnex } from '../plugins/database.ts'
import { dropDatabase, ensureDatabase, migrateSchema, type SchemaSpec } from '../migrations.ts'
import { mintDevToken } from '../tokens.ts'
import { loggerOptions } from '../logger.ts'
import { createFastify, type ServiceInstance } from '../service.ts'
import { trustProxyOption } from '../proxy-trust.ts'
import type { Role } from '../plugins/auth.ts'

export const TEST_ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

export const TEST_JWT = {
  secret: 'test-jwt-secret-that-is-long-enough-0123456789',
  issuer: 'venue-hub-test',
  audience: 'venue-hub',
} as const

export const TEST_INTERNAL_KEYS = {
  'venue-service': { k1: 'test-venue-service-secret-0001' },
  'integration-service': { k1: 'test-integration-service-secret-0001' },
  'compliance-service': { k1: 'test-compliance-service-secret-0001' },
  'api-gateway': { k1: 'test-api-gateway-secret-0001' },
} as const

/** The environment every service needs in a test, on its own Redis prefix. */
export function testServiceEnv(redisPrefix: string): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: redisPrefix,
    JWT_SECRET: TEST_JWT.secret,
    JWT_ISSUER: TEST_JWT.issuer,
    JWT_AUDIENCE: TEST_JWT.audience,
    INTERNAL_AUTH_KEYS: JSON.stringify(TEST_INTERNAL_KEYS),
    // Tests deliver audit events by calling auditRelay.flush(), not on a timer.
    AUDIT_RELAY_INTERVAL_MS: '0',
    // Tests run several services in one process, so one app's synchronous start-up (loading the
    // provider SDKs) stalls the loop the others measure and they would refuse with 503. In
    // production each service is a process of its own.
    MAX_EVENT_LOOP_DELAY_MS: '0',
    // Each app's metrics listener on a free port, so test files never collide.
    METRICS_PORT: '0',
  }
}

/** The Prometheus text an app serves on its metrics listener. */
export async function scrapeMetrics(app: FastifyInstance): Promise<string> {
  const base = app.metrics.url()
  if (!base) throw new Error('the metrics listener is not listening')
  const response = await fetch(`${base}/metrics`)
  if (response.status !== 200) throw new Error(`metrics answered ${response.status}`)
  return response.text()
}

export interface TestDatabase {
  name: string
  adminUrl: string
  /** URL connecting as a service's own role (RLS applies). */
  urlFor(role: string): string
  /** Runs SQL as the superuser (bypassing RLS) to check what is really stored. */
  adminQuery<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>
  drop(): Promise<void>
}

function withDatabase(url: string, database: string, user?: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  if (user) {
    parsed.username = user
    parsed.password = ''
  }
  return parsed.toString()
}

export async function createTestDatabase(specs: SchemaSpec[]): Promise<TestDatabase> {
  const name = `hub_test_${randomBytes(6).toString('hex')}`
  await ensureDatabase(TEST_ADMIN_URL, name)
  const adminUrl = withDatabase(TEST_ADMIN_URL, name)
  for (const spec of specs) await migrateSchema(adminUrl, spec)
  let admin: Knex | undefined
  return {
    name,
    adminUrl,
    urlFor: (role) => withDatabase(TEST_ADMIN_URL, name, role),
    adminQuery: async <T>(sql: string, params: unknown[] = []) => {
      admin ??= createKnex(adminUrl, { poolMax: 2 })
      // knex wants ? placeholders; tests read more naturally with $1.
      const result = await admin.raw(sql.replace(/\$\d+/g, '?'), params as Knex.RawBinding[])
      return result.rows as T[]
    },
    drop: async () => {
      await admin?.destroy()
      await dropDatabase(TEST_ADMIN_URL, name)
    },
  }
}

export function testRedisPrefix(): string {
  return `hubtest:${randomBytes(5).toString('hex')}:`
}

/** Deletes every key under a test prefix (SCAN, never KEYS). */
export async function deleteRedisPrefix(prefix: string, url = TEST_REDIS_URL): Promise<void> {
  const redis = new Redis(url)
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
      cursor = next
      if (keys.length > 0) await redis.del(...keys)
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
}

export function testToken(claims: { tenantId: string; roles: Role[]; venueIds?: string[]; sub?: string; expiresIn?: number }): string {
  return mintDevToken({ ...TEST_JWT, ...claims })
}

export function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` }
}

/** A pino logger whose lines are kept in memory, to prove what never gets logged. */
export function captureLogs(level = 'debug'): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(String(chunk))
      callback()
    },
  })
  // Same redaction and serializers as production, so the test proves what production logs.
  const options = loggerOptions(level, 'test') as pino.LoggerOptions
  return { logger: pino(options, stream), lines }
}

export const newTenantId = (): string => randomUUID()

/** A port nothing listens on right now (for a server whose URL must be known before it starts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

/** Listens on loopback (port 0 unless given) and returns the base URL. */
export async function listenLocal(app: FastifyInstance, port = 0): Promise<string> {
  await app.listen({ port, host: '127.0.0.1' })
  const address = app.server.address()
  if (!address || typeof address === 'string') throw new Error('the server has no TCP address')
  return `http://127.0.0.1:${address.port}`
}

export interface ServiceTests {
  db: TestDatabase
  env: Record<string, string>
  /** Builds the service on this file's database and Redis prefix; closed when the file ends. */
  build(extraEnv?: Record<string, string>): Promise<ServiceInstance>
  /** Every route an app built here registered, as it was added (for schema checks). */
  routesOf(app: ServiceInstance): RecordedRoute[]
}

/** One database and Redis prefix per test file, dropped (with every app built) when it is done. */
export async function setupServiceTests(options: {
  service: string
  schemas: SchemaSpec[]
  /** The service's own variables on top of the common ones (its DATABASE_URL, at least). */
  env: (db: TestDatabase) => Record<string, string>
  register: (app: ServiceInstance, env: Record<string, string>) => PromiseLike<unknown>
}): Promise<ServiceTests> {
  const db = await createTestDatabase(options.schemas)
  const prefix = testRedisPrefix()
  const env = { ...testServiceEnv(prefix), ...options.env(db) }
  const apps: ServiceInstance[] = []
  const routes = new WeakMap<ServiceInstance, RecordedRoute[]>()
  after(async () => {
    await Promise.all(apps.map((app) => app.close()))
    await db.drop()
    await deleteRedisPrefix(prefix)
  })
  return {
    db,
    env,
    build: async (extraEnv = {}) => {
      const app = createFastify({ service: options.service, logLevel: process.env.TEST_LOG_LEVEL ?? 'silent', trustProxy: trustProxyOption({ ...env, ...extraEnv }) })
      apps.push(app)
      routes.set(app, recordRoutes(app))
      await options.register(app, { ...env, ...extraEnv })
      await app.ready()
      return app
    },
    routesOf: (app) => routes.get(app) ?? [],
  }
}

export interface RecordedRoute {
  method: string | string[]
  url: string
  schema?: Record<string, unknown>
}

/** Records every route as it is added; call before registering the service. */
function recordRoutes(app: FastifyInstance): RecordedRoute[] {
  const routes: RecordedRoute[] = []
  app.addHook('onRoute', (route) => {
    routes.push({ method: route.method, url: route.url ?? route.path ?? '', ...(route.schema ? { schema: route.schema as Record<string, unknown> } : {}) })
  })
  return routes
}

/**
 * `METHOD url: what is missing` for each route without a response schema, or with path
 * parameters but no params schema. HEAD twins of GET routes and URLs under `exempt` prefixes
 * (third-party UIs, the metrics and OpenAPI documents) are skipped.
 */
export function routesMissingSchemas(routes: RecordedRoute[], exempt: string[] = ['/metrics', '/openapi.json']): string[] {
  const gaps: string[] = []
  for (const route of routes) {
    const methods = ([] as string[]).concat(route.method).filter((method) => method !== 'HEAD')
    if (methods.length === 0 || exempt.some((prefix) => route.url.startsWith(prefix))) continue
    const missing = [!route.schema?.response && 'response', route.url.includes(':') && !route.schema?.params && 'params'].filter(Boolean)
    if (missing.length > 0) gaps.push(`${methods.join(',')} ${route.url}: ${missing.join(', ')}`)
  }
  return gaps
}

export { rawRequest, type RawResponse } from './raw-http.ts'
export * from './fakes/index.ts'
export { eventually, setupSecurityEventDelivery, totalCount, type SecurityEventDelivery } from './security-event-delivery.ts'
export { searchDatabase, searchableColumnCount, type DatabaseHit } from './database-search.ts'

export interface SentQuery {
  sql: string
  bindings: unknown[]
}

/** The statements `knex` sent while `fn` ran (as its `query` event gives them), and what `fn` returned. */
export async function queriesSentBy<T>(knex: Knex, fn: () => Promise<T>): Promise<{ result: T; queries: SentQuery[] }> {
  const queries: SentQuery[] = []
  const listen = (query: { sql: string; bindings?: unknown[] }) => queries.push({ sql: query.sql, bindings: query.bindings ?? [] })
  knex.on('query', listen)
  try {
    return { result: await fn(), queries }
  } finally {
    knex.off('query', listen)
  }
}

/**
 * Runs `sql` (as knex's `query` event gives it: `$n` placeholders, each once and in order) under
 * EXPLAIN ANALYZE in `trx` and returns how many rows of `table` its scans read (returned, plus
 * removed by a filter or a recheck): what a query costs whatever plan was chosen. A tenant's query
 * that reads other tenants' rows and lets row-level security drop them shows here as rows read far
 * beyond the rows the tenant has.
 */
export async function rowsRead(trx: Knex.Transaction, sql: string, bindings: readonly unknown[], table: string): Promise<number> {
  return (await explained(trx, sql, bindings, table)).rowsRead
}

/** `rowsRead`, and the statement's execution time as Postgres measured it (ms). */
export async function explained(trx: Knex.Transaction, sql: string, bindings: readonly unknown[], table: string): Promise<{ rowsRead: number; executionMs: number }> {
  const result = await trx.raw<{ rows: Array<{ 'QUERY PLAN': [{ Plan: PlanNode; 'Execution Time': number }] }> }>(`explain (analyze, format json) ${sql.replace(/\$\d+/g, '?')}`, bindings as Knex.RawBinding[])
  const [root] = result.rows[0]?.['QUERY PLAN'] ?? []
  const walk = (node: PlanNode): number => {
    const own = node['Relation Name'] === table ? (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0)) * node['Actual Loops'] : 0
    return own + (node.Plans ?? []).reduce((sum, child) => sum + walk(child), 0)
  }
  return { rowsRead: root ? walk(root.Plan) : 0, executionMs: root?.['Execution Time'] ?? Number.NaN }
}

interface PlanNode {
  'Relation Name'?: string
  'Actual Rows': number
  'Actual Loops': number
  'Rows Removed by Filter'?: number
  'Rows Removed by Index Recheck'?: number
  Plans?: PlanNode[]
}
