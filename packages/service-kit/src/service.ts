// How every service is put together: a Fastify instance with the kit's options, and the kit
// plugin that adds errors, health, metrics, OpenAPI, auth, Postgres and Redis.
import Fastify, { LogController, type FastifyError, type FastifyHttpOptions, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Server } from 'node:http'
import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import { PROBLEM_CONTENT_TYPE, problemType } from '@hub/contracts'
import fp from 'fastify-plugin'
import underPressure from '@fastify/under-pressure'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import closeWithGrace from 'close-with-grace'
import { setTimeout as sleep } from 'node:timers/promises'
import type { SecurityEventReporter } from '@hub/contracts'
import { activeTraceIds } from '@hub/telemetry'
import { loggerOptions, requestIdGenerator } from './logger.ts'
import { peerTrusted, type TrustProxy } from './proxy-trust.ts'
import errorHandler, { FRAMEWORK_CODES, frameworkProblem, sendProblem } from './plugins/error-handler.ts'
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
import securityRelay from './plugins/security-relay.ts'
import { Counter } from 'prom-client'
import { outboxSecurityEventSink, streamSecurityEventSink } from './security-event-outbox.ts'
import internal, { type InternalOptions } from './plugins/internal.ts'
import { pendingMigrations, systemRoleOf, type SchemaSpec } from './migrations.ts'
import { createInternalClient, createSecurityEventReporter, httpSecurityEventSink, newestKey, parseInternalAuthKeys, type SecurityEventSink } from '@hub/internal-auth'

declare module 'fastify' {
  interface FastifyInstance {
    /** Fails readiness and answers `Connection: close` from now on (the first step of a shutdown). */
    startDraining(): void
  }
}

export interface FastifyFactoryOptions {
  service: string
  logLevel?: string
  /** A pino-compatible stream or logger instance for tests that capture logs. */
  loggerInstance?: FastifyServerOptions['loggerInstance']
  bodyLimit?: number
  /** Proxies whose X-Forwarded-For and X-Request-Id are believed (see trustProxyOption). */
  trustProxy?: TrustProxy
  /** `generate`: never take a request id from a request (the edge). Default: from trusted proxies. */
  requestIds?: 'generate' | 'from-trusted-proxy'
  timeouts?: Partial<ServerTimeouts>
}

/**
 * Deadlines of every listener, so a slow or silent client cannot hold a socket for ever: the
 * headers must arrive within `headersMs`, the whole request (body included) within `requestMs`,
 * a socket idle for `idleMs` is closed, and a kept-alive socket waits `keepAliveMs` for the next
 * request. Node would check the first two only every 30 s; the check interval follows them.
 */
export interface ServerTimeouts {
  headersMs: number
  requestMs: number
  idleMs: number
  keepAliveMs: number
}

export const DEFAULT_TIMEOUTS: ServerTimeouts = { headersMs: 10_000, requestMs: 30_000, idleMs: 30_000, keepAliveMs: 10_000 }

/**
 * Path parameters up to this many bytes reach the route (and its schema, which sets the real
 * bound); longer ones are a 414. Schemas allow ids of up to 200 characters, which percent-encoded
 * take up to three times as many.
 */
export const MAX_PARAM_LENGTH = 1024

/**
 * Errors Node's HTTP parser meets before Fastify sees a request (headers too large, a malformed
 * request line, a request that missed its deadline) are written straight to the socket; without
 * this they get Node's or Fastify's own JSON body. The socket is closed after: its framing can no
 * longer be trusted.
 */
export function writeClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const { status, code, detail } =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? { status: 408, code: 'REQUEST_TIMEOUT', detail: 'The request did not arrive in time.' }
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? { status: 431, code: 'HEADERS_TOO_LARGE', detail: 'The request line and headers are too large.' }
        : { status: 400, code: 'MALFORMED_REQUEST', detail: 'The request is not valid HTTP.' }
  const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage
  if (socket.writable && !inProgress?.headersSent) {
    const title = STATUS_CODES[status] ?? 'Bad Request'
    const body = JSON.stringify({ type: problemType(code), title, status, detail, code, requestId: randomUUID() })
    socket.write(`HTTP/1.1 ${status} ${title}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy()
}

// Fastify adds ajv-formats after the plugins unless one is named formatsPlugin: this one adds
// them itself, then replaces date-time with one limited to years 0001-9999 and uuid with the plain
// form (ajv-formats also takes `urn:uuid:…`): what Postgres takes, so a valid value never fails there.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default
type FormatsPlugin = Parameters<typeof addFormats>[0]
function formatsPlugin(ajv: FormatsPlugin): FormatsPlugin {
  addFormats(ajv)
  ajv.addFormat('date-time', { type: 'string', validate: isDateTimeInRange })
  ajv.addFormat('uuid', { type: 'string', validate: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i })
  return ajv
}

export function createFastify(opts: FastifyFactoryOptions) {
  const timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts }
  const trust = opts.trustProxy ?? false
  const options: FastifyHttpOptions<Server> = {
    ...(opts.loggerInstance ? { loggerInstance: opts.loggerInstance } : { logger: loggerOptions(opts.logLevel ?? 'info', opts.service) }),
    // One line per request, written by the kit when the answer is sent (see serviceKit), so a
    // refusal that is not worth a line (a caller already rate-limited) can stay silent.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: requestIdGenerator(opts.requestIds === 'generate' || trust === false ? null : (address) => peerTrusted(trust, address)),
    bodyLimit: opts.bodyLimit ?? 256 * 1024,
    // Fastify takes a hop count at run time; its types only omit it.
    trustProxy: trust as FastifyHttpOptions<Server>['trustProxy'],
    return503OnClosing: true,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    http: {
      // Node's own refusal of an HTTP/1.1 request without Host is a bare 400; the kit refuses it
      // in its first hook instead, as problem+json like every other refusal.
      requireHostHeader: false,
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      connectionsCheckingInterval: Math.min(1_000, Math.max(50, Math.floor(Math.min(timeouts.headersMs, timeouts.requestMs) / 4))),
    },
    requestTimeout: timeouts.requestMs,
    connectionTimeout: timeouts.idleMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    clientErrorHandler: writeClientError,
    // Router refusals (bad percent-encoding, an over-long parameter) skip the error handler.
    frameworkErrors: (error: FastifyError, _request, reply) => {
      const known = FRAMEWORK_CODES[error.code]
      if (!known) return sendProblem(reply, { title: 'Bad Request', status: 400, code: 'BAD_REQUEST', detail: 'The request could not be routed.' })
      return sendProblem(reply, frameworkProblem(known))
    },
    // JSON bodies naming __proto__ (Fastify's default) or constructor.prototype are refused
    // outright (400): objects built from client-chosen names must never reach a prototype. (The
    // kit's input guard parses JSON itself and refuses both the same way.)
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // No coercion: a JSON body must carry the declared types. Query and path values are converted
    // to their declared type strictly by the input guard before validation.
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: true },
      // Runs instead of Fastify's ajv-formats step, so this date-time (years 0001-9999) wins.
      plugins: [formatsPlugin],
    },
  }
  return Fastify(options).withTypeProvider<TypeBoxTypeProvider>()
}

export type ServiceInstance = ReturnType<typeof createFastify>

declare module 'fastify' {
  interface FastifyRequest {
    /** Set for a refusal already logged once in its window: no per-request log line. */
    quietLog: boolean
  }
}

export interface KitOptions {
  service: string
  version?: string
  description?: string
  databaseUrl?: string
  databasePoolMax?: number
  /** The schema this service owns: /ready answers 503 while it has migrations pending; its role names the system role. */
  databaseSchema?: Pick<SchemaSpec, 'schema' | 'directory' | 'appRole'>
  redisUrl?: string
  redisPrefix?: string
  jwt?: {
    secret?: string | undefined
    jwksUrl?: string | undefined
    jwksIssuer?: string | undefined
    claimsNamespace?: string | undefined
    issuer: string
    audience: string
    deferFailures?: boolean
    maxAgeSeconds?: number
    clockSkewSeconds?: number
  }
  securityEvents?: SecurityEventReporter
  /** Where this service's own reporter writes (compliance-service: straight into its store). */
  securityEventSink?: SecurityEventSink
  /** Extra members of GET /health (the gateway's upstreams). */
  healthDetails?: HealthDetails
  /** false when the service serves its own /openapi.json (the gateway merges everyone's). */
  openapiRoute?: boolean
  /** Signed internal routes and clients (needs redisUrl). */
  internal?: InternalOptions & {
    /** Where security events go; compliance-service itself passes its own reporter instead. */
    complianceUrl?: string | undefined
  }
  /**
   * Where security events wait until compliance-service has them: the service's outbox table
   * (schema-qualified; needs databaseUrl) or, without a database, a Redis stream under the prefix
   * (needs redisUrl). A relay delivers them when internal.complianceUrl is set; without a buffer
   * they are posted straight from memory.
   */
  securityEventBuffer?: { table: string } | 'redis'
  /** Repeats of one refusal within this window are stored once with a count (default 60 s). */
  securityEventWindowMs?: number
  /** Pause between security-event deliveries from the buffer; 0 runs no timer (default 1 s). */
  securityRelayIntervalMs?: number
  /** Delivers this service's audit outbox to compliance-service (needs databaseUrl and internal.complianceUrl). */
  auditRelay?: { table: string; intervalMs: number }
  /** false on the gateway: it passes bodies through to the services, which parse them. */
  parseJsonBodies?: boolean
  /** Mean event-loop delay above which requests are refused with 503; 0 disables. Default 2 s. */
  maxEventLoopDelayMs?: number
  /** The metrics listener (METRICS_PORT, METRICS_HOST); never the public one. */
  metrics?: { port?: number | undefined; host?: string | undefined }
}

export const serviceKit = fp(
  async (fastify, opts: KitOptions) => {
    // While closing, answers ask the client to hang up. Otherwise a keep-alive client (the
    // gateway's upstream pool always is one) holds its socket open after the last in-flight
    // answer and shutdown waits for the keep-alive timeout instead of finishing.
    let closing = false
    // Draining (SIGTERM received, still serving): readiness fails so load balancers stop sending,
    // and every answer asks its client to hang up, so no keep-alive socket is left to break.
    let draining = false
    fastify.decorate('startDraining', () => {
      draining = true
    })
    fastify.addHook('preClose', async () => {
      closing = true
    })
    fastify.addHook('onSend', async (request, reply) => {
      reply.header('x-request-id', request.id)
      const trace = activeTraceIds()
      if (trace) reply.header('x-trace-id', trace.trace_id)
      if (closing || draining) reply.header('connection', 'close')
    })
    fastify.decorateRequest('quietLog', false)
    fastify.addHook('onRequest', async (request, reply) => {
      if (request.headers.host === undefined && request.raw.httpVersionMajor === 1 && request.raw.httpVersionMinor >= 1) {
        reply.header('connection', 'close')
        return sendProblem(reply, { title: 'Bad Request', status: 400, code: 'MISSING_HOST', detail: 'An HTTP/1.1 request must carry a Host header.' })
      }
    })
    fastify.addHook('onResponse', async (request, reply) => {
      if (request.quietLog) return
      request.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed')
    })
    await fastify.register(errorHandler, { service: opts.service })
    await fastify.register(inputGuard, { parseJson: opts.parseJsonBodies })
    await fastify.register(health, { service: opts.service, details: opts.healthDetails })
    fastify.addReadinessCheck('shutdown', async () => {
      if (draining) throw new Error('draining before shutdown')
    })
    await fastify.register(metrics, { service: opts.service, port: opts.metrics?.port, host: opts.metrics?.host })
    await fastify.register(openapi, { service: opts.service, version: opts.version, description: opts.description, route: opts.openapiRoute })
    let reporter = opts.securityEvents
    const dropped = new Counter({ name: 'security_events_dropped_total', help: 'Refusals whose security event was lost (buffer full, or unwritten at shutdown)', registers: [fastify.metrics.registry] })
    const buffer = opts.securityEventBuffer
    const streamKey = `${opts.redisPrefix ?? 'hub:'}security-events`
    let sink: SecurityEventSink | null = null
    let closeReporter: (() => Promise<void>) | null = null
    if (!reporter && opts.securityEventSink) {
      sink = opts.securityEventSink
    } else if (!reporter && buffer !== undefined && buffer !== 'redis' && opts.databaseUrl) {
      sink = outboxSecurityEventSink(() => fastify.db, buffer.table)
    } else if (!reporter && buffer === 'redis' && opts.redisUrl) {
      sink = streamSecurityEventSink(() => fastify.redis, streamKey)
    } else if (!reporter && opts.internal?.complianceUrl) {
      const keys = parseInternalAuthKeys(opts.internal.keysJson)
      const key = newestKey(keys, opts.service)
      sink = httpSecurityEventSink(createInternalClient({ service: opts.service, keyId: key.keyId, secret: key.secret, baseUrl: opts.internal.complianceUrl, retries: 0, timeoutMs: 3_000 }))
    }
    if (sink) {
      const batching = createSecurityEventReporter({
        sink,
        source: opts.service,
        logger: fastify.log,
        windowMs: opts.securityEventWindowMs ?? 60_000,
        onDrop: (refusals) => dropped.inc(refusals),
      })
      closeReporter = () => batching.close()
      reporter = batching
    }
    await fastify.register(securityEvents, { reporter })
    await fastify.register(underPressure, {
      // Generous: a cold start on two cores can stall the loop for a second without being overload.
      maxEventLoopDelay: opts.maxEventLoopDelayMs ?? 2_000,
      // under-pressure counts a window without a single loop sample as an infinite delay: with its
      // 1 s default window a 1.2 s stall read as Infinity and was refused, below the 2 s limit. A
      // window as long as the limit makes "no sample" mean a stall at least that long.
      sampleInterval: Math.max(1_000, opts.maxEventLoopDelayMs ?? 2_000),
      exposeStatusRoute: false,
      pressureHandler: (_request, reply, type, value) => {
        sendProblem(reply, { title: 'Service Unavailable', status: 503, code: 'UNDER_PRESSURE', detail: `The service is overloaded (${type}: ${value}); retry shortly.` })
      },
    })
    if (opts.jwt) await fastify.register(auth, { ...opts.jwt, service: opts.service, securityEvents: fastify.securityEvents })
    if (opts.databaseUrl) {
      const systemRole = opts.databaseSchema ? systemRoleOf(opts.databaseSchema.appRole) : null
      await fastify.register(database, { url: opts.databaseUrl, poolMax: opts.databasePoolMax, service: opts.service, systemRole })
    }
    const schema = opts.databaseSchema
    if (opts.databaseUrl && schema) {
      fastify.addReadinessCheck('migrations', async () => {
        const pending = await pendingMigrations(fastify.db.knex, schema)
        if (pending.length > 0) throw new Error(`${pending.length} migration(s) pending in schema ${schema.schema}, e.g. ${pending[0]}`)
      })
    }
    if (opts.redisUrl) await fastify.register(redis, { url: opts.redisUrl, prefix: opts.redisPrefix ?? 'hub:', service: opts.service, requireNoEviction: process.env.NODE_ENV === 'production' })
    if (opts.internal) await fastify.register(internal, { service: opts.internal.service, keysJson: opts.internal.keysJson, permissions: opts.internal.permissions })
    // onClose hooks run last-added first: the reporter writes what it holds before the database
    // and Redis it writes to are closed.
    if (closeReporter) fastify.addHook('onClose', closeReporter)
    if (buffer !== undefined && !opts.securityEvents && opts.internal?.complianceUrl) {
      await fastify.register(securityRelay, {
        buffer: buffer === 'redis' ? { stream: streamKey } : { table: buffer.table },
        complianceUrl: opts.internal.complianceUrl,
        intervalMs: opts.securityRelayIntervalMs ?? 1_000,
      })
    }
    if (opts.auditRelay && opts.databaseUrl && opts.internal?.complianceUrl) {
      await fastify.register(auditRelay, { ...opts.auditRelay, source: opts.service, complianceUrl: opts.internal.complianceUrl })
    } else if (opts.auditRelay) {
      fastify.log.warn('COMPLIANCE_SERVICE_URL is not set: audit events stay in the outbox')
    }
  },
  { name: '@hub/service-kit', fastify: '5.x' },
)

/**
 * Listens and shuts down gracefully. On a signal the service first drains — /ready answers 503
 * and every answer carries `Connection: close` for `drainMs` (DRAIN_MS; 5 s in production, 0
 * elsewhere), the pattern a rolling deployment needs — then stops accepting, lets in-flight
 * requests finish and closes its resources. A fatal error skips the drain.
 */
export async function runServer(app: FastifyInstance, opts: { port: number; host: string; graceMs?: number; drainMs?: number | undefined }): Promise<void> {
  const drainMs = opts.drainMs ?? (process.env.NODE_ENV === 'production' ? 5_000 : 0)
  closeWithGrace({ delay: (opts.graceMs ?? 10_000) + drainMs }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'closing after an error')
    else app.log.info({ signal, drainMs }, 'closing')
    if (!err && drainMs > 0) {
      app.startDraining()
      await sleep(drainMs)
    }
    await app.close()
  })
  await app.listen({ port: opts.port, host: opts.host })
}
