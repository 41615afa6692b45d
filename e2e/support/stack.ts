// Starts the whole hub for one e2e test file, as separate processes through the launcher `npm start`
// uses, on its own database (own roles' grants, migrated), Redis key prefix, free ports and freshly
// generated secrets; everything is stopped and dropped when the file ends, even when it fails.
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test, type TestContext } from 'node:test'
import { createInternalClient, type InternalClient } from '@hub/internal-auth'
import { mintDevToken, type Role } from '@hub/service-kit'
import { createTestDatabase, deleteRedisPrefix, freePort, testRedisPrefix, TEST_REDIS_URL, type TestDatabase } from '@hub/service-kit/testing'
import { SCHEMAS } from '../../scripts/migrate.ts'
import { Stack, buildProcessSpecs, type ProcessName, type SimulatorPorts, type StackConfig, type StackPorts } from '../../scripts/stack/launcher.ts'

export type Provider = keyof SimulatorPorts
export type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

export const INTERNAL_SERVICES = ['api-gateway', 'venue-service', 'integration-service', 'compliance-service'] as const
export type InternalService = (typeof INTERNAL_SERVICES)[number]

export interface E2EStack {
  /** The gateway's base URL: the only door the tests use, apart from signed /internal calls. */
  gateway: string
  ports: StackPorts
  sims: SimulatorPorts
  db: TestDatabase
  redisPrefix: string
  processes: Stack
  /** A tenant made for this run; its admin token is `adminToken`. */
  tenantId: string
  adminToken: string
  token(claims: { tenantId?: string; roles: Role[]; venueIds?: string[]; sub?: string }): string
  /** Calls the gateway with the admin token (unless headers say otherwise); JSON in and out. */
  api(method: string, path: string, options?: { body?: unknown; token?: string; headers?: Record<string, string> }): Promise<{ status: number; body: Json; headers: Headers }>
  /** The provider simulator's control API (`/_sim/...`). */
  sim(provider: Provider, method: string, path: string, body?: unknown): Promise<Json>
  /** A client signing as `as` towards `service`'s /internal routes, with that caller's real key. */
  internalClient(as: InternalService, service: 'venue-service' | 'integration-service' | 'compliance-service'): InternalClient
  /** Base URL of a service (for deliberately bad /internal calls). */
  serviceUrl(service: 'venue-service' | 'integration-service' | 'compliance-service'): string
  kill(name: ProcessName): Promise<void>
  restart(name: ProcessName): Promise<void>
  /** Starts one more integration-worker (own port and log directory), as a deployment with several runs; stop it with `stop()`. */
  startExtraWorker(): Promise<Stack>
}

export interface E2EOptions {
  /** Extra variables for every process (e.g. a shorter poll interval). */
  env?: Record<string, string>
  /** How long each process may take to become ready (default READY_TIMEOUT_MS). */
  readyTimeoutMs?: number
  /** More variables once the ports are chosen (e.g. an identity provider that must know the gateway's URL). */
  envFor?: (ports: StackPorts) => Promise<Record<string, string>>
}

const secret = () => randomBytes(24).toString('base64url')

/**
 * How long a process may take to answer /ready. Generous: on a saturated two-core box (load 30+)
 * loading integration-service's provider SDKs through tsx alone has taken over two minutes, and a
 * slow start is not what these tests are about.
 */
const READY_TIMEOUT_MS = 240_000

/** Polls `probe` until it returns something other than undefined, or fails with `what` at the deadline. */
export async function eventually<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${String(last)})` : ''}`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/** Lines of each process's log printed when a scenario fails. */
const LOG_TAIL_LINES = 60

export async function startStack(options: E2EOptions = {}): Promise<E2EStack> {
  const logDir = mkdtempSync(join(tmpdir(), 'hub-e2e-'))
  const db = await createTestDatabase(SCHEMAS)
  const redisPrefix = testRedisPrefix()
  const [gateway, venue, integration, compliance, worker, stripe, square, mailchimp, quickbooks] = await Promise.all(Array.from({ length: 9 }, () => freePort()))
  const ports: StackPorts = { gateway: gateway as number, venue: venue as number, integration: integration as number, compliance: compliance as number, worker: worker as number }
  const sims: SimulatorPorts = { stripe: stripe as number, square: square as number, mailchimp: mailchimp as number, quickbooks: quickbooks as number }
  const tenantId = randomUUID()
  const internalKeys = Object.fromEntries(INTERNAL_SERVICES.map((service) => [service, { k1: secret() }])) as Record<InternalService, { k1: string }>
  const jwt = { secret: secret(), issuer: 'venue-hub-e2e', audience: 'venue-hub' }
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: redisPrefix,
    JWT_SECRET: jwt.secret,
    JWT_ISSUER: jwt.issuer,
    JWT_AUDIENCE: jwt.audience,
    INTERNAL_AUTH_KEYS: JSON.stringify(internalKeys),
    ENCRYPTION_KEYS: JSON.stringify({ 1: randomBytes(32).toString('base64') }),
    // Two cores run six processes, the test and Postgres: start-up stalls are expected, not pressure.
    MAX_EVENT_LOOP_DELAY_MS: '0',
    SYNC_LOG_POLL_MS: '500',
    // Metrics listeners on free ports too, like every other port of a test stack.
    METRICS_PORT: '0',
    // The tests poll through the gateway; the per-user limit is proven elsewhere, not tripped here.
    RATE_LIMIT_USER_MAX: '100000',
    // A killed worker's job goes to the next worker within seconds, not the production 30 s.
    SYNC_LOCK_DURATION_MS: '4000',
    SYNC_STALLED_INTERVAL_MS: '1000',
    SYNC_BACKOFF_BASE_MS: '200',
    SYNC_BACKOFF_MAX_MS: '1000',
    SYNC_WEBHOOK_RELAY_INTERVAL_MS: '1000',
    // The console's development sign-in mints its tokens in this run's tenant.
    DEMO_TENANT_ID: tenantId,
    ...options.env,
    ...(options.envFor ? await options.envFor(ports) : {}),
  }
  const config: StackConfig = { ports, simulators: sims, databaseUrlFor: (role) => db.urlFor(role), env, operatorTenantIds: tenantId }
  // The children run in the log directory, so a developer's .env in the repository never leaks in.
  const processes = new Stack(buildProcessSpecs(config), env, { output: { kind: 'files', dir: logDir }, cwd: logDir, exitWithParent: true, readyTimeoutMs: options.readyTimeoutMs ?? READY_TIMEOUT_MS })
  const killNow = () => processes.killAllNow()
  process.once('exit', killNow)
  after(async () => {
    process.removeListener('exit', killNow)
    await processes.stop(10_000)
    await db.drop()
    await deleteRedisPrefix(redisPrefix)
    if (!failed) rmSync(logDir, { recursive: true, force: true })
  })
  let failed = false
  try {
    await processes.start()
  } catch (error) {
    failed = true
    console.error(processes.readLogs(LOG_TAIL_LINES))
    throw error
  }

  const token: E2EStack['token'] = (claims) =>
    mintDevToken({ ...jwt, tenantId: claims.tenantId ?? tenantId, roles: claims.roles, ...(claims.venueIds ? { venueIds: claims.venueIds } : {}), sub: claims.sub ?? `e2e-${claims.roles.join('-')}`, expiresIn: 3600 })
  const adminToken = token({ roles: ['admin'], sub: 'e2e-admin' })
  const gatewayUrl = `http://127.0.0.1:${ports.gateway}`
  const serviceUrl: E2EStack['serviceUrl'] = (service) => `http://127.0.0.1:${{ 'venue-service': ports.venue, 'integration-service': ports.integration, 'compliance-service': ports.compliance }[service]}`

  const stack: E2EStack & { markFailed(): void } = {
    gateway: gatewayUrl,
    ports,
    sims,
    db,
    redisPrefix,
    processes,
    tenantId,
    adminToken,
    token,
    api: async (method, path, opts = {}) => {
      const headers: Record<string, string> = { authorization: `Bearer ${opts.token ?? adminToken}`, ...opts.headers }
      if (opts.body !== undefined) headers['content-type'] = 'application/json'
      const response = await fetch(`${gatewayUrl}${path}`, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}), signal: AbortSignal.timeout(30_000) })
      const text = await response.text()
      let body: Json = {}
      try {
        body = text ? (JSON.parse(text) as Json) : {}
      } catch {
        body = { text }
      }
      return { status: response.status, body, headers: response.headers }
    },
    sim: async (provider, method, path, body) => {
      const response = await fetch(`http://127.0.0.1:${sims[provider]}${path}`, { method, ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(60_000) })
      const json = (await response.json()) as Json
      if (!response.ok) throw new Error(`${provider} simulator ${method} ${path}: ${response.status} ${JSON.stringify(json)}`)
      return json
    },
    internalClient: (as, service) => createInternalClient({ service: as, keyId: 'k1', secret: internalKeys[as].k1, baseUrl: serviceUrl(service), retries: 0 }),
    serviceUrl,
    kill: (name) => processes.kill(name, 'SIGKILL'),
    restart: (name) => processes.restart(name),
    startExtraWorker: async () => {
      const spec = processes.specs.find((candidate) => candidate.name === 'integration-worker')
      if (!spec) throw new Error('the stack has no integration-worker')
      const port = await freePort()
      const extra = new Stack([{ ...spec, env: { ...spec.env, INTEGRATION_WORKER_PORT: String(port) }, readyUrl: `http://127.0.0.1:${port}/ready` }], env, {
        output: { kind: 'files', dir: join(logDir, `extra-worker-${port}`) },
        cwd: logDir,
        exitWithParent: true,
        readyTimeoutMs: 120_000,
      })
      process.once('exit', () => extra.killAllNow())
      await extra.start()
      return extra
    },
    markFailed: () => {
      failed = true
    },
  }
  current = stack
  return stack
}

let current: (E2EStack & { markFailed(): void }) | undefined

/**
 * A named scenario: on failure the tail of every process's log is printed next to the assertion
 * (the full logs stay in the run's directory, named in the output).
 */
export function scenario(name: string, fn: (t: TestContext) => Promise<void>, options: { timeout?: number } = {}): void {
  test(name, { timeout: options.timeout ?? 120_000 }, async (t) => {
    try {
      await fn(t)
    } catch (error) {
      if (current) {
        current.markFailed()
        console.error(`\n✖ ${name}: process logs\n${current.processes.readLogs(LOG_TAIL_LINES)}`)
      }
      throw error
    }
  })
}
