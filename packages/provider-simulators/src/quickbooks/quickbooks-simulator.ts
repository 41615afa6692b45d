// A local QuickBooks Online: Accounting API v3, Intuit OAuth 2.0 and webhooks on one Fastify app.
import formbody from '@fastify/formbody'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import { FaultRegistry, RequestRateLimiter } from '../common/faults.ts'
import { registerApiRoutes } from './quickbooks-api.ts'
import type { ApiDeps } from './quickbooks-api.ts'
import { registerControlRoutes } from './quickbooks-control.ts'
import { QboTokenStore, registerOAuthRoutes } from './quickbooks-oauth.ts'
import { QboRealmRegistry } from './quickbooks-store.ts'
import { QboWebhooks } from './quickbooks-webhooks.ts'

export interface QuickBooksSimulatorOptions {
  seed?: string
  recordsPerEntity?: number
  /** Intuit's documented 500 requests per minute and 10 concurrent requests per realm. */
  enforceRateLimits?: boolean
  logger?: boolean
}

export interface QuickBooksSimulatorState {
  realms: QboRealmRegistry
  tokens: QboTokenStore
  faults: FaultRegistry
  webhooks: QboWebhooks
}

export const QBO_REQUESTS_PER_MINUTE = 500

const states = new WeakMap<FastifyInstance, QuickBooksSimulatorState>()

/** In-process access to a simulator's state (tests that want more than the control API). */
export function quickBooksSimulatorState(app: FastifyInstance): QuickBooksSimulatorState | undefined {
  return states.get(app)
}

export function createQuickBooksSimulator(options: QuickBooksSimulatorOptions = {}): FastifyInstance {
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: 10 * 1024 * 1024 })
  const realms = new QboRealmRegistry(options.seed ?? 'venue-hub', options.recordsPerEntity ?? 300)
  const tokens = new QboTokenStore()
  const faults = new FaultRegistry()
  const webhooks = new QboWebhooks()
  const requestLog: ApiDeps['requestLog'] = []
  realms.listeners.push((realm, entity, id, operation, atMs) => webhooks.onChange(realm, entity, id, operation, atMs))

  states.set(app, { realms, tokens, faults, webhooks })
  app.register(formbody)
  app.addHook('onClose', async () => {
    await webhooks.settle()
  })

  registerOAuthRoutes(app, { tokens, realms, faults })
  registerApiRoutes(app, {
    realms,
    tokens,
    faults,
    limiter: options.enforceRateLimits ? new RequestRateLimiter(QBO_REQUESTS_PER_MINUTE, 60_000) : null,
    requestLog,
  })
  app.register(async (control) => registerControlRoutes(control, { realms, tokens, faults, webhooks, requestLog }))
  return app
}

/** Same factory under the brief's `create<Provider>Simulator` spelling. */
export const createQuickbooksSimulator = createQuickBooksSimulator
