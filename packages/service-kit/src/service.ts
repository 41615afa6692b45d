// How every service is put together: a Fastify instance with the kit's options, and the kit
// plugin that adds errors, health, metrics, OpenAPI, auth, Postgres and Redis.
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import underPressure from '@fastify/under-pressure'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import closeWithGrace from 'close-with-grace'
import type { SecurityEventReporter } from '@hub/contracts'
import { loggerOptions, requestIdFrom } from './logger.ts'
import errorHandler, { sendProblem } from './plugins/error-handler.ts'
import health, { type HealthDetails } from './plugins/health.ts'
import metrics from './plugins/metrics.ts'
import openapi from './plugins/openapi.ts'
import auth from './plugins/auth.ts'
import database from './plugins/database.ts'
import redis from './plugins/redis.ts'
import securityEvents from './plugins/security-events.ts'
import auditRelay from './plugins/audit-relay.ts'
import inputGuard from './plugins/input-guard.ts'
import { isDateTimeInRange } from './cursor.ts'
import addFormatsModule from 'ajv-formats'
import internal, { type InternalOptions } from './plugins/internal.ts'
import { createInternalClient, createSecurityEventReporter, newestKey, parseInternalAuthKeys } from '@hub/internal-auth'

export interface FastifyFactoryOptions {
  service: string
  logLevel?: string
  /** A pino-compatible stream or logger instance for tests that capture logs. */
  loggerInstance?: FastifyServerOptions['loggerInstance']
  bodyLimit?: number
  trustProxy?: boolean | string
}

// Fastify adds ajv-formats after the plugins unless one is named formatsPlugin: this one adds
// them itself, then replaces date-time with one limited to years 0001-9999 (what Postgres takes).
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default
type FormatsPlugin = Parameters<typeof addFormats>[0]
function formatsPlugin(ajv: FormatsPlugin): FormatsPlugin {
  addFormats(ajv)
  ajv.addFormat('date-time', { type: 'string', validate: isDateTimeInRange })
  return ajv
}

export function createFastify(opts: FastifyFactoryOptions) {
  return Fastify({
    ...(opts.loggerInstance ? { loggerInstance: opts.loggerInstance } : { logger: loggerOptions(opts.logLevel ?? 'info', opts.service) }),
    genReqId: requestIdFrom,
    bodyLimit: opts.bodyLimit ?? 256 * 1024,
    trustProxy: opts.trustProxy ?? false,
    return503OnClosing: true,
    // No coercion: a JSON body must carry the declared types. Query and path values are converted
    // to their declared type strictly by the input guard before validation.
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: true },
      // Runs after ajv-formats, so this date-time (years 0001-9999) replaces its own.
      plugins: [formatsPlugin],
    },
  }).withTypeProvider<TypeBoxTypeProvider>()
}

export type ServiceInstance = ReturnType<typeof createFastify>

export interface KitOptions {
  service: string
  version?: string
  description?: string
  databaseUrl?: string
  databasePoolMax?: number
  redisUrl?: string
  redisPrefix?: string
  jwt?: { secret?: string | undefined; jwksUrl?: string | undefined; issuer: string; audience: string; deferFailures?: boolean }
  securityEvents?: SecurityEventReporter
  /** Extra members of GET /health (the gateway's upstreams). */
  healthDetails?: HealthDetails
  /** false when the service serves its own /openapi.json (the gateway merges everyone's). */
  openapiRoute?: boolean
  /** Signed internal routes and clients (needs redisUrl). */
  internal?: InternalOptions & {
    /** Where security events go; compliance-service itself passes its own reporter instead. */
    complianceUrl?: string | undefined
  }
  /** Delivers this service's audit outbox to compliance-service (needs databaseUrl and internal.complianceUrl). */
  auditRelay?: { table: string; intervalMs: number }
  /** false on the gateway: it passes bodies through to the services, which parse them. */
  parseJsonBodies?: boolean
  /** Mean event-loop delay above which requests are refused with 503; 0 disables. Default 2 s. */
  maxEventLoopDelayMs?: number
}

export const serviceKit = fp(
  async (fastify, opts: KitOptions) => {
    // While closing, answers ask the client to hang up. Otherwise a keep-alive client (the
    // gateway's upstream pool always is one) holds its socket open after the last in-flight
    // answer and shutdown waits for the keep-alive timeout instead of finishing.
    let closing = false
    fastify.addHook('preClose', async () => {
      closing = true
    })
    fastify.addHook('onSend', async (request, reply) => {
      reply.header('x-request-id', request.id)
      if (closing) reply.header('connection', 'close')
    })
    await fastify.register(errorHandler, { service: opts.service })
    await fastify.register(inputGuard, { parseJson: opts.parseJsonBodies })
    await fastify.register(health, { service: opts.service, details: opts.healthDetails })
    await fastify.register(metrics, { service: opts.service })
    await fastify.register(openapi, { service: opts.service, version: opts.version, description: opts.description, route: opts.openapiRoute })
    let reporter = opts.securityEvents
    if (!reporter && opts.internal?.complianceUrl) {
      const keys = parseInternalAuthKeys(opts.internal.keysJson)
      const key = newestKey(keys, opts.service)
      const client = createInternalClient({ service: opts.service, keyId: key.keyId, secret: key.secret, baseUrl: opts.internal.complianceUrl, retries: 0, timeoutMs: 3_000 })
      const batching = createSecurityEventReporter({ client, source: opts.service, logger: fastify.log })
      fastify.addHook('onClose', async () => batching.close())
      reporter = batching
    }
    await fastify.register(securityEvents, { reporter })
    await fastify.register(underPressure, {
      // Generous: a cold start on two cores can stall the loop for a second without being overload.
      maxEventLoopDelay: opts.maxEventLoopDelayMs ?? 2_000,
      exposeStatusRoute: false,
      pressureHandler: (_request, reply, type, value) => {
        sendProblem(reply, { title: 'Service Unavailable', status: 503, code: 'UNDER_PRESSURE', detail: `The service is overloaded (${type}: ${value}); retry shortly.` })
      },
    })
    if (opts.jwt) await fastify.register(auth, { ...opts.jwt, service: opts.service, securityEvents: fastify.securityEvents })
    if (opts.databaseUrl) await fastify.register(database, { url: opts.databaseUrl, poolMax: opts.databasePoolMax, service: opts.service })
    if (opts.redisUrl) await fastify.register(redis, { url: opts.redisUrl, prefix: opts.redisPrefix ?? 'hub:', service: opts.service })
    if (opts.internal) await fastify.register(internal, { service: opts.internal.service, keysJson: opts.internal.keysJson, permissions: opts.internal.permissions })
    if (opts.auditRelay && opts.databaseUrl && opts.internal?.complianceUrl) {
      await fastify.register(auditRelay, { ...opts.auditRelay, source: opts.service, complianceUrl: opts.internal.complianceUrl })
    } else if (opts.auditRelay) {
      fastify.log.warn('COMPLIANCE_SERVICE_URL is not set: audit events stay in the outbox')
    }
  },
  { name: '@hub/service-kit', fastify: '5.x' },
)

/** Listens and shuts down gracefully: in-flight requests finish, then resources close. */
export async function runServer(app: FastifyInstance, opts: { port: number; host: string; graceMs?: number }): Promise<void> {
  closeWithGrace({ delay: opts.graceMs ?? 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'closing after an error')
    else app.log.info({ signal }, 'closing')
    await app.close()
  })
  await app.listen({ port: opts.port, host: opts.host })
}
