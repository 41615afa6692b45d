// A rig for sync-engine tests: a fresh database and Redis prefix, the provider simulators on port
// 0, integration-service built against them (optionally with the queue processors started in the
// same process), connections inserted directly, and the integration-worker as a child process.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { after } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { createFastify, type ServiceInstance } from '@hub/service-kit'
import { TEST_INTERNAL_KEYS, TEST_JWT, TEST_REDIS_URL, createTestDatabase, deleteRedisPrefix, testRedisPrefix, freePort, listenLocal } from '@hub/service-kit/testing'
import { generateKeyRingJson } from '@hub/crypto'
import { createMailchimpSimulator, createQuickBooksSimulator, createSquareSimulator, createStripeSimulator } from '@hub/provider-simulators'
import integrationService from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { INTEGRATION_SCHEMA } from '../../src/db/schema.ts'
import type { ProviderName } from '../../src/providers/canonical.ts'
import type { SecretValues } from '../../src/plugins/app/secrets/credential-vault.ts'
import { startSyncProcessing } from '../../src/plugins/app/sync/index.ts'

export const ROOT = join(import.meta.dirname, '..', '..', '..', '..')

const SERVICE_DIR = join(import.meta.dirname, '..', '..')

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

export interface SimOptions {
  recordsPerEntity?: number
}

export async function setupSyncRig(options: { sims?: Partial<Record<ProviderName, SimOptions>> } = {}) {
  const db = await createTestDatabase([INTEGRATION_SCHEMA])
  const prefix = testRedisPrefix()
  const closers: Array<() => Promise<unknown>> = []
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined)
    await db.drop()
    await deleteRedisPrefix(prefix)
  })

  const simUrls: Partial<Record<ProviderName, string>> = {}
  const sims: Partial<Record<ProviderName, FastifyInstance>> = {}
  const factories = {
    stripe: (o: SimOptions) => createStripeSimulator({ recordsPerEntity: o.recordsPerEntity ?? 20, seed: 'sync-rig' }),
    square: (o: SimOptions) => createSquareSimulator({ recordsPerEntity: o.recordsPerEntity ?? 20, seed: 'sync-rig' }),
    mailchimp: (o: SimOptions) => createMailchimpSimulator({ recordsPerEntity: o.recordsPerEntity ?? 20, seed: 'sync-rig' }),
    quickbooks: (o: SimOptions) => createQuickBooksSimulator({ recordsPerEntity: o.recordsPerEntity ?? 20, seed: 'sync-rig' }),
  } satisfies Record<ProviderName, (o: SimOptions) => FastifyInstance>
  for (const [name, simOptions] of Object.entries(options.sims ?? {}) as Array<[ProviderName, SimOptions]>) {
    const sim = factories[name](simOptions)
    simUrls[name] = await listenLocal(sim)
    sims[name] = sim
    closers.push(() => sim.close())
  }

  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: db.urlFor(INTEGRATION_SCHEMA.appRole),
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    JWT_SECRET: TEST_JWT.secret,
    JWT_ISSUER: TEST_JWT.issuer,
    JWT_AUDIENCE: TEST_JWT.audience,
    INTERNAL_AUTH_KEYS: JSON.stringify(TEST_INTERNAL_KEYS),
    ENCRYPTION_KEYS: generateKeyRingJson([1]),
    COMPLIANCE_SERVICE_URL: 'http://127.0.0.1:9',
    VENUE_SERVICE_URL: 'http://127.0.0.1:9',
    METRICS_PORT: '0',
    // The simulators, the service and its processors share this process: one's synchronous work
    // stalls the loop the others measure, and they would refuse with 503 (as in @hub/service-kit's
    // test environment; each is a process of its own in production).
    MAX_EVENT_LOOP_DELAY_MS: '0',
    // Fast failure handling for tests: short backoff, quick stall detection.
    SYNC_BACKOFF_BASE_MS: '200',
    SYNC_BACKOFF_MAX_MS: '1000',
    SYNC_LOCK_DURATION_MS: '4000',
    SYNC_STALLED_INTERVAL_MS: '1000',
    SYNC_WEBHOOK_RELAY_INTERVAL_MS: '1000',
    // The simulators take whatever we send; the budgets are tested on their own.
    SYNC_RATE_LIMIT_STRIPE: '1000/1s',
    SYNC_RATE_LIMIT_SQUARE: '1000/1s',
    SYNC_RATE_LIMIT_MAILCHIMP: '1000/1s',
    SYNC_RATE_LIMIT_QUICKBOOKS: '1000/1s',
    ...(simUrls.stripe ? { STRIPE_API_BASE: simUrls.stripe } : {}),
    ...(simUrls.square ? { SQUARE_API_BASE: simUrls.square } : {}),
    ...(simUrls.mailchimp ? { MAILCHIMP_API_BASE: simUrls.mailchimp } : {}),
    ...(simUrls.quickbooks ? { QUICKBOOKS_API_BASE: simUrls.quickbooks } : {}),
  }

  async function control(provider: ProviderName, method: string, path: string, body?: unknown): Promise<Json> {
    const response = await fetch(`${simUrls[provider]}${path}`, {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    })
    const text = await response.text()
    if (response.status >= 300) throw new Error(`${provider} ${method} ${path} → ${response.status} ${text}`)
    return text ? (JSON.parse(text) as Json) : {}
  }

  const rig = {
    db,
    env,
    prefix,
    sims,
    simUrls,
    control,

    /** integration-service against the simulators; `worker: true` also starts the processors here. */
    async build(extra: Record<string, string> = {}, opts: { worker?: boolean } = {}): Promise<ServiceInstance> {
      const app = createFastify({ service: 'integration-service', logLevel: process.env.TEST_LOG_LEVEL ?? 'silent' })
      await app.register(integrationService, { config: loadConfig({ ...env, ...extra }) })
      await app.ready()
      if (opts.worker) startSyncProcessing(app)
      closers.push(() => app.close())
      return app
    },

    /** An active connection with these credentials, inserted as the connections API would. */
    async connect(app: ServiceInstance, input: { tenantId: string; venueId?: string; provider: ProviderName; secrets: SecretValues; accountId?: string; authType?: 'api_key' | 'oauth2' }): Promise<{ id: string; venueId: string }> {
      const id = randomUUID()
      const venueId = input.venueId ?? randomUUID()
      await app.db.withTenant(input.tenantId, async (trx) => {
        await app.connections.insert(trx, { id, tenantId: input.tenantId, venueId, provider: input.provider, authType: input.authType ?? 'api_key', createdBy: 'test', sealed: app.vault.seal(input.tenantId, id, input.secrets) })
        await app.connections.update(trx, id, { status: 'active', accountId: input.accountId ?? null })
      })
      return { id, venueId }
    },

    /** Fresh credentials for a new simulator account, and that account's id. */
    async account(provider: ProviderName): Promise<{ secrets: SecretValues; accountId: string; authType: 'api_key' | 'oauth2' }> {
      if (provider === 'quickbooks') {
        const realm = await control('quickbooks', 'POST', '/_sim/realms', {})
        return { secrets: { accessToken: realm.accessToken as string, refreshToken: realm.refreshToken as string }, accountId: realm.realmId as string, authType: 'oauth2' }
      }
      const apiKey = provider === 'stripe' ? `sk_test_${randomBytes(18).toString('hex')}` : provider === 'square' ? `EAAA${randomBytes(45).toString('base64url').slice(0, 60)}` : `${randomBytes(16).toString('hex')}-us21`
      const { accountId } = await control(provider, 'GET', `/_sim/accounts/lookup?credential=${encodeURIComponent(apiKey)}`)
      return { secrets: { apiKey }, accountId: accountId as string, authType: 'api_key' }
    },

    /** Runs `node --import tsx src/worker.ts` with this rig's environment; resolves once it is ready. */
    async spawnWorker(extra: Record<string, string> = {}): Promise<ChildProcess> {
      const port = await freePort()
      const child = spawn(process.execPath, ['--import', 'tsx', join(SERVICE_DIR, 'src', 'worker.ts')], {
        cwd: ROOT,
        env: { ...process.env, ...env, INTEGRATION_WORKER_PORT: String(port), LOG_LEVEL: process.env.TEST_WORKER_LOG_LEVEL ?? 'warn', ...extra },
        stdio: ['ignore', 'ignore', 'inherit'],
      })
      closers.push(
        () =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve()
            child.once('exit', () => resolve())
            child.kill('SIGKILL')
          }),
      )
      const deadline = Date.now() + 60_000
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the worker exited (${String(child.exitCode ?? child.signalCode)})`)
        const ready = await fetch(`http://127.0.0.1:${port}/ready`).then(
          (response) => response.ok,
          () => false,
        )
        if (ready) return child
        if (Date.now() > deadline) throw new Error('the worker did not become ready')
        await sleep(100)
      }
    },

    async syncLog(id: string): Promise<Json> {
      const [row] = await db.adminQuery<Json>('select * from integration.sync_logs where id = $1', [id])
      if (!row) throw new Error(`no sync log ${id}`)
      return row
    },

    /** Waits until the sync log reaches one of `statuses`, returning it. */
    async waitForLog(id: string, statuses: string[] = ['succeeded', 'partial', 'failed', 'cancelled'], timeoutMs = 60_000): Promise<Json> {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const row = await rig.syncLog(id)
        if (statuses.includes(row.status as string)) return row
        if (Date.now() > deadline) throw new Error(`sync log ${id} stayed ${String(row.status)} (${String(row.error_code)}: ${String(row.error_message)})`)
        await sleep(100)
      }
    },

    async liveIds(connectionId: string, entity: string): Promise<string[]> {
      const rows = await db.adminQuery<{ external_id: string }>('select external_id from integration.records where connection_id = $1 and entity = $2 and deleted_at is null order by external_id', [connectionId, entity])
      return rows.map((row) => row.external_id)
    },
  }
  return rig
}

export type SyncRig = Awaited<ReturnType<typeof setupSyncRig>>

export const sortedIds = (ids: Iterable<string>): string[] => [...ids].sort()
