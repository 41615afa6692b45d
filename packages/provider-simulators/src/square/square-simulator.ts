// Assembles the Square simulator: Square's JSON conventions and error envelope on every /v2 and
// /oauth2 route, auth then faults then rate limits in one onRequest hook (in that order because
// faults and limits are per account/token), and the control API beside it.
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import { FaultRegistry, RequestRateLimiter } from '../common/faults.ts'
import { attachCaller, authenticate, checkSquareVersion } from './square-auth.ts'
import { registerCatalogRoutes } from './square-catalog-routes.ts'
import type { SquareRouteContext } from './square-context.ts'
import { registerControlRoutes } from './square-control-routes.ts'
import { registerCustomerRoutes } from './square-customers-routes.ts'
import { invalid, notFound, rateLimited, sendSquareError, squareError, SquareApiError, squareFaultRenderer } from './square-errors.ts'
import { registerMerchantRoutes } from './square-merchant-routes.ts'
import { registerOAuthRoutes } from './square-oauth-routes.ts'
import { CursorCodec } from './square-paging.ts'
import { registerPaymentRoutes } from './square-payments-routes.ts'
import { SquareStore } from './square-store.ts'
import { registerWebhookRoutes } from './square-webhook-routes.ts'

export interface SquareSimulatorOptions {
  seed?: string
  recordsPerEntity?: number
  enforceRateLimits?: boolean
  logger?: boolean
}

/**
 * Square publishes no fixed per-seller quota; it throttles "high request rates" with 429
 * RATE_LIMITED. 20 requests per second per access token is the approximation modelled here.
 */
export const SQUARE_RATE_LIMIT = { requests: 20, windowMs: 1_000 } as const

export interface SquareSimulator extends FastifyInstance {
  squareStore: SquareStore
  squareFaults: FaultRegistry
}

export function createSquareSimulator(options: SquareSimulatorOptions = {}): SquareSimulator {
  const store = new SquareStore({ seed: options.seed ?? 'venue-hub', recordsPerEntity: options.recordsPerEntity ?? 300 })
  const faults = new FaultRegistry()
  const limiter = options.enforceRateLimits ? new RequestRateLimiter(SQUARE_RATE_LIMIT.requests, SQUARE_RATE_LIMIT.windowMs) : null
  const context: SquareRouteContext = { store, codec: new CursorCodec(randomBytes(16).toString('hex')) }
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: 5 * 1024 * 1024 })

  // Square answers an empty JSON body as `{}` and a broken one with EXPECTED_JSON_BODY.
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body)
    if (text.trim() === '') return done(null, undefined)
    try {
      done(null, JSON.parse(text))
    } catch {
      done(invalid('EXPECTED_JSON_BODY', 'The request body is not valid JSON.'), undefined)
    }
  })

  app.addHook('onRequest', async (request, reply) => {
    const path = request.url
    if (path.startsWith('/_sim/')) return
    const api = path.startsWith('/v2/')
    let accountId: string | undefined
    let token: string | undefined
    if (api) {
      checkSquareVersion(request)
      const caller = authenticate(store, request)
      attachCaller(request, caller)
      accountId = caller.account.id
      token = caller.token
    }
    if (await faults.apply(accountId, request, reply, squareFaultRenderer)) {
      if (!reply.sent) reply.hijack()
      return reply
    }
    if (limiter && token) {
      const wait = limiter.hit(token)
      if (wait > 0) throw rateLimited(wait)
    }
  })

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof SquareApiError) return sendSquareError(reply, error)
    const status = (error as { statusCode?: number }).statusCode
    if (status !== undefined && status >= 400 && status < 500) {
      return sendSquareError(reply, squareError(status, 'INVALID_REQUEST_ERROR', 'BAD_REQUEST', error instanceof Error ? error.message : 'Bad request'))
    }
    request.log.error(error)
    return sendSquareError(reply, squareError(500, 'API_ERROR', 'INTERNAL_SERVER_ERROR', 'An internal error has occurred, and the API was unable to service your request.'))
  })

  app.setNotFoundHandler((request, reply) => sendSquareError(reply, notFound(`API endpoint for URL path \`${request.url.split('?')[0]}\` and HTTP method \`${request.method}\` is not found.`)))

  registerMerchantRoutes(app)
  registerCustomerRoutes(app, context)
  registerPaymentRoutes(app, context)
  registerCatalogRoutes(app, context)
  registerWebhookRoutes(app, context)
  registerOAuthRoutes(app, context)
  registerControlRoutes(app, context, faults)

  return Object.assign(app, { squareStore: store, squareFaults: faults })
}
