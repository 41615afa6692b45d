// Assembles the Stripe simulator: form/bracket parsing, the API hooks (request ids, key
// authentication, Stripe-Account, faults, rate limits, idempotency keys), the /v1 and /oauth
// routes and the /_sim control API.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { FaultRegistry, RequestRateLimiter } from '../common/faults.ts'
import { getContext, setContext, type ApiContext } from './stripe-context.ts'
import { WebhookLog, registerControlRoutes } from './stripe-control.ts'
import { StripeApiError, accountAccessError, expiredKeyError, invalidKeyError, invalidRequest, missingKeyError, rateLimitError, requestKey, sendError, stripeFaultRenderer } from './stripe-errors.ts'
import { parseStripeForm } from './stripe-form.ts'
import { registerOAuthRoutes } from './stripe-oauth.ts'
import { registerResourceRoutes } from './stripe-routes.ts'
import { seedAccount } from './stripe-seed.ts'
import { StripeState, nowSeconds, type SimAccount } from './stripe-state.ts'
import { deliverToSubscribers } from './stripe-webhooks.ts'

export interface StripeSimulatorOptions {
  seed?: string
  /** Records per entity (customers, products, payments) every new account starts with. */
  recordsPerEntity?: number
  /** Applies Stripe's test-mode limit: 25 reads and 25 writes per second per account. */
  enforceRateLimits?: boolean
  logger?: boolean
  /** Posts every new event to subscribed endpoints as it happens (off: use /_sim/webhooks/fire). */
  autoDeliverWebhooks?: boolean
}

/** Stripe's test-mode budget, per account and per kind of operation. */
export const TEST_MODE_REQUESTS_PER_SECOND = 25

const IDEMPOTENCY_KEY_TTL_SECONDS = 24 * 3600

const API_VERSION = /^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name]
  return typeof value === 'string' && value !== '' ? value : undefined
}

/** Canonical JSON (sorted keys), so the same parameters in another order count as the same request. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonical(inner)}`).join(',')}}`
}

export function createStripeSimulator(options: StripeSimulatorOptions = {}): FastifyInstance {
  const app = Fastify({ logger: options.logger ?? false, routerOptions: { querystringParser: (text) => parseStripeForm(text) } })
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, parseStripeForm(body as string))
  })

  const state = new StripeState({ seed: options.seed ?? 'venue-hub', recordsPerEntity: options.recordsPerEntity ?? 300, seeder: seedAccount })
  const faults = new FaultRegistry()
  const webhooks = new WebhookLog(options.autoDeliverWebhooks ?? false)
  state.onEvent((account, event) => {
    if (!webhooks.autoDeliver) return
    void deliverToSubscribers(state, account, event).then((deliveries) => webhooks.record(deliveries))
  })
  const limiters = options.enforceRateLimits ? { read: new RequestRateLimiter(TEST_MODE_REQUESTS_PER_SECOND, 1000), write: new RequestRateLimiter(TEST_MODE_REQUESTS_PER_SECOND, 1000) } : null

  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    if (error instanceof StripeApiError) return sendError(reply, error)
    if (request.url.startsWith('/_sim/')) {
      return reply.code(error.statusCode && error.statusCode < 500 ? error.statusCode : 400).send({ error: { message: error.message } })
    }
    if (error.statusCode && error.statusCode < 500) return sendError(reply, invalidRequest(error.message))
    request.log.error(error)
    return sendError(reply, new StripeApiError(500, { type: 'api_error', message: 'An unknown error occurred' }))
  })

  app.setNotFoundHandler((request, reply) => {
    if (request.url.startsWith('/v1/') || request.url.startsWith('/oauth/')) {
      const path = request.url.split('?')[0]
      const error = invalidRequest(`Unrecognized request URL (${request.method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`, { status: 404 })
      return reply
        .code(404)
        .type('application/json')
        .send(JSON.stringify({ error: error.body }, null, 2))
    }
    return reply.code(404).send({ error: { message: `No route ${request.method} ${request.url}` } })
  })

  const authenticate = (request: FastifyRequest, reply: FastifyReply, context: ApiContext): SimAccount | null => {
    const key = requestKey(request.headers.authorization)
    if (!key) {
      sendError(reply, missingKeyError())
      return null
    }
    const resolved = state.resolveKey(key)
    if (resolved.status !== 'ok') {
      sendError(reply, resolved.status === 'malformed' ? invalidKeyError(key) : expiredKeyError(key))
      return null
    }
    context.key = key
    context.credential = resolved.credential
    // Connect: a platform key acts on a connected account named by Stripe-Account (or the newer
    // Stripe-Context header the SDK can send instead).
    const target = header(request, 'stripe-account') ?? header(request, 'stripe-context')
    if (!target || target === resolved.account.id) return resolved.account
    const connected = state.accounts.get(target)
    if (!connected || resolved.credential.kind !== 'secret' || !resolved.account.connected.has(target)) {
      sendError(reply, accountAccessError(key, target))
      return null
    }
    reply.header('Stripe-Account', target)
    return connected
  }

  app.register(async (api) => {
    // Stripe's API answers with indented JSON.
    api.setReplySerializer((payload) => JSON.stringify(payload, null, 2))

    api.addHook('onRequest', async (request, reply) => {
      const context: ApiContext = { requestId: state.requestId(), key: null, credential: null, account: null, idempotencyKey: null }
      setContext(request, context)
      reply.header('Request-Id', context.requestId)
      reply.header('Cache-Control', 'no-cache, no-store')
      const isOAuth = request.url.startsWith('/oauth/')
      const version = header(request, 'stripe-version')
      if (version && !isOAuth && !API_VERSION.test(version)) return sendError(reply, invalidRequest(`Invalid Stripe API version: ${version}`, { param: 'Stripe-Version' }))
      if (isOAuth) {
        // OAuth calls authenticate in the route (the key may be a body parameter); the header, when
        // present, still names the account for faults.
        const key = requestKey(request.headers.authorization)
        const resolved = key ? state.resolveKey(key) : null
        if (resolved?.status === 'ok') context.account = resolved.account
      } else {
        const account = authenticate(request, reply, context)
        if (!account) return reply
        context.account = account
        reply.header('Stripe-Version', version ?? account.apiVersion)
      }
      if (await faults.apply(context.account?.id, request, reply, stripeFaultRenderer)) {
        if (!reply.sent) reply.hijack()
        return reply
      }
      if (limiters && context.account) {
        const limiter = request.method === 'GET' ? limiters.read : limiters.write
        if (limiter.hit(context.account.id) > 0) return sendError(reply, rateLimitError())
      }
    })

    // Idempotency keys: the first response for a key is saved and replayed for the same request;
    // reusing the key with other parameters is an idempotency_error.
    api.addHook('preHandler', async (request, reply) => {
      const context = getContext(request)
      const key = header(request, 'idempotency-key')
      if (request.method !== 'POST' || !key || !context.account || !request.url.startsWith('/v1/')) return
      if (key.length > 255) return sendError(reply, invalidRequest('Idempotency-Key must be at most 255 characters long.', { param: 'Idempotency-Key' }))
      const account = context.account
      const fingerprint = `${request.method} ${request.url.split('?')[0]} ${canonical(request.body ?? {})}`
      const entry = account.idempotency.get(key)
      if (entry) {
        if (entry.fingerprint !== fingerprint) {
          return sendError(
            reply,
            new StripeApiError(400, {
              type: 'idempotency_error',
              message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
            }),
          )
        }
        if (!entry.response) {
          return sendError(
            reply,
            new StripeApiError(
              409,
              { type: 'invalid_request_error', code: 'idempotency_key_in_use', message: 'There is currently another in-progress request using this Stripe-Idempotency-Key. Please retry this request later.' },
              { 'Stripe-Should-Retry': 'true' },
            ),
          )
        }
        reply.header('Idempotency-Key', key).header('Idempotent-Replayed', 'true').header('Original-Request', entry.response.requestId)
        return reply.code(entry.response.status).type('application/json').send(entry.response.body)
      }
      // Stripe forgets keys after 24 hours; the SDK sends one with every POST, so prune as we go.
      if (account.idempotency.size >= 1000 && account.idempotency.size % 1000 === 0) {
        const cutoff = nowSeconds() - IDEMPOTENCY_KEY_TTL_SECONDS
        for (const [stored, value] of account.idempotency) if (value.createdAt < cutoff && value.response) account.idempotency.delete(stored)
      }
      account.idempotency.set(key, { fingerprint, response: null, createdAt: nowSeconds() })
      context.idempotencyKey = key
      reply.header('Idempotency-Key', key)
    })

    api.addHook('onSend', async (request, reply, payload) => {
      const context = getContext(request)
      const entry = context.idempotencyKey ? context.account?.idempotency.get(context.idempotencyKey) : undefined
      if (entry && !entry.response && context.idempotencyKey) {
        // Stripe saves results once the endpoint ran: successes, card declines and server errors;
        // parameter validation failures are not saved, so a corrected retry can reuse the key.
        const status = reply.statusCode
        if (status < 400 || status === 402 || status >= 500) entry.response = { status, body: String(payload), requestId: context.requestId }
        else context.account?.idempotency.delete(context.idempotencyKey)
      }
      return payload
    })

    const release = async (request: FastifyRequest): Promise<void> => {
      const context = getContext(request)
      if (!context.idempotencyKey || !context.account) return
      if (context.account.idempotency.get(context.idempotencyKey)?.response === null) context.account.idempotency.delete(context.idempotencyKey)
    }
    api.addHook('onResponse', release)
    api.addHook('onRequestAbort', release)

    registerResourceRoutes(api, state)
    registerOAuthRoutes(api, state)
  })

  app.register(async (control) => registerControlRoutes(control, { state, faults, webhooks }))
  return app
}
