// A local Mailchimp: Marketing API 3.0 under /3.0, OAuth under /oauth2, control API under /_sim.
import Fastify from 'fastify'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import formbody from '@fastify/formbody'
import { FaultRegistry } from '../common/faults.ts'
import { authenticate } from './mailchimp-auth.ts'
import { mailchimpApiRoutes, requestAccounts } from './mailchimp-api-routes.ts'
import { ConnectionLimiter } from './mailchimp-connection-limiter.ts'
import { mailchimpControlRoutes } from './mailchimp-control-routes.ts'
import { PROBLEMS, mailchimpFaultRenderer, sendProblem } from './mailchimp-errors.ts'
import { mailchimpOAuthRoutes } from './mailchimp-oauth-routes.ts'
import { MailchimpStore } from './mailchimp-store.ts'
import { SimClock } from './mailchimp-time.ts'

export interface MailchimpSimulatorOptions {
  seed?: string
  /** Members per account at creation (spread over its lists). Default 300. */
  recordsPerEntity?: number
  /** Enforces Mailchimp's 10-simultaneous-connections limit per account. */
  enforceRateLimits?: boolean
  logger?: boolean
  /** The data centre this simulator is (e.g. `us21`); keys of other data centres are refused. Unset: any. */
  dc?: string
  /** Audiences per account. Default 2. */
  listsPerAccount?: number
  /** GET the URL before accepting a list webhook, as Mailchimp does. Default true. */
  validateWebhookUrls?: boolean
  /** Simultaneous connections per account when rate limits are enforced. Default 10. */
  maxConnections?: number
}

const API_PREFIX = '/3.0'

export function createMailchimpSimulator(options: MailchimpSimulatorOptions = {}): FastifyInstance {
  const clock = new SimClock()
  const store = new MailchimpStore({
    seed: options.seed ?? 'venue-hub',
    recordsPerEntity: options.recordsPerEntity ?? 300,
    listsPerAccount: options.listsPerAccount ?? 2,
    clock,
  })
  const faults = new FaultRegistry()
  const limiter = options.enforceRateLimits ? new ConnectionLimiter(options.maxConnections ?? 10) : null
  const auth = { dc: options.dc }
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: 20 * 1024 * 1024 })

  // The SDK sends `Content-Type: application/json` on bodiless GET/DELETE requests too.
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body)
    if (text.trim() === '') return done(null, undefined)
    try {
      done(null, JSON.parse(text))
    } catch {
      done(Object.assign(new Error('invalid JSON body'), { statusCode: 400, code: 'MC_JSON_PARSE' }), undefined)
    }
  })
  void app.register(formbody)

  const isApi = (request: FastifyRequest): boolean => request.url === API_PREFIX || request.url.startsWith(`${API_PREFIX}/`) || request.url.startsWith(`${API_PREFIX}?`)

  // Real Mailchimp dates its responses; the simulator uses its own (advanceable) clock.
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('date', new Date(clock.now()).toUTCString())
    return payload
  })

  app.setErrorHandler((error: { statusCode?: number; code?: string; message: string }, request, reply) => {
    if (!isApi(request)) return reply.code(error.statusCode ?? 500).send({ error: error.message })
    if (error.code === 'MC_JSON_PARSE' || error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return sendProblem(reply, PROBLEMS.jsonParse())
    if (error.statusCode && error.statusCode < 500) return sendProblem(reply, PROBLEMS.badRequest(error.message))
    request.log.error(error)
    return sendProblem(reply, PROBLEMS.internal())
  })

  app.setNotFoundHandler((request, reply) => {
    if (isApi(request)) return sendProblem(reply, PROBLEMS.notFound())
    return reply.code(404).send({ error: 'not_found' })
  })

  void app.register(
    async (api) => {
      api.addHook('onRequest', async (request, reply) => {
        const outcome = authenticate(store, request.headers.authorization, auth)
        if (!outcome.ok) return sendProblem(reply, outcome.problem)
        requestAccounts.set(request, outcome.account)
        if (limiter && !limiter.acquire(outcome.account.id, reply)) return sendProblem(reply, PROBLEMS.tooManyRequests())
        if (await faults.apply(outcome.account.id, request, reply, mailchimpFaultRenderer)) {
          // A reset destroyed the socket without answering: tell Fastify not to answer either.
          if (!reply.sent) reply.hijack()
          return reply
        }
        return undefined
      })
      await mailchimpApiRoutes(api, { store, validateWebhookUrls: options.validateWebhookUrls ?? true })
    },
    { prefix: API_PREFIX },
  )

  void app.register(async (oauth) => mailchimpOAuthRoutes(oauth, { store, dc: options.dc ?? 'us21' }))
  void app.register(async (control) => mailchimpControlRoutes(control, { store, faults, auth }))

  return app
}
