// Fastify plugin that verifies v1-signed internal requests on the routes that opt in.
import { randomUUID } from 'node:crypto'
import { PassThrough, type Readable } from 'node:stream'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import { AppError, ForbiddenError, ServiceUnavailableError, UnauthorizedError, markReported } from '@hub/contracts'
import type { SecurityEventInput, SecurityEventType, Severity } from '@hub/contracts'
import { hasService, lookupSecret, type InternalAuthKeys } from './key-config.ts'
import { HEADER_KEY_ID, HEADER_NONCE, HEADER_SERVICE, HEADER_SIGNATURE, HEADER_TIMESTAMP, SIGNATURE_VERSION, bodySha256, verifySignature } from './request-signer.ts'

export interface InternalCaller {
  service: string
  keyId: string
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Opt a route in to internal request signing; the caller must hold `permission`. */
    internalAuth?: { permission: string }
  }
  interface FastifyRequest {
    /** The verified calling service on routes with `config.internalAuth`, otherwise null. */
    internalCaller: InternalCaller | null
  }
}

export const INTERNAL_AUTH_CODES = {
  missingHeaders: 'INTERNAL_AUTH_MISSING_HEADERS',
  unknownService: 'INTERNAL_AUTH_UNKNOWN_SERVICE',
  unknownKey: 'INTERNAL_AUTH_UNKNOWN_KEY',
  staleTimestamp: 'INTERNAL_AUTH_STALE_TIMESTAMP',
  badSignature: 'INTERNAL_AUTH_BAD_SIGNATURE',
  replay: 'INTERNAL_AUTH_REPLAY',
  forbidden: 'INTERNAL_AUTH_FORBIDDEN',
} as const
export type InternalAuthCode = (typeof INTERNAL_AUTH_CODES)[keyof typeof INTERNAL_AUTH_CODES]

/** What `onRefusal` receives: a complete security event, ready for a `SecurityEventReporter`. */
export type InternalAuthRefusal = SecurityEventInput & { code: InternalAuthCode }

export interface InternalAuthPluginOptions {
  keys: InternalAuthKeys
  /** Permissions each calling service holds, e.g. `{ 'compliance-service': ['sync-logs:read'] }`. */
  permissions: Readonly<Record<string, readonly string[]>>
  /** Shared by every replica so a nonce seen by one is refused by all. */
  redis: Redis
  /** Redis key prefix for seen nonces. */
  noncePrefix?: string
  maxSkewSeconds?: number
  /** Name of the service doing the verifying; the `source` of security events. */
  source?: string
  /** Called after the refusal has been answered; its errors and slowness never reach the caller. */
  onRefusal?: (refusal: InternalAuthRefusal) => void | Promise<void>
  /** Clock in milliseconds, like Date.now (tests pin it). */
  now?: () => number
}

const DEFAULT_NONCE_PREFIX = 'internal-auth:nonce:'
const DEFAULT_MAX_SKEW_SECONDS = 300
const TIMESTAMP_PATTERN = /^\d{1,12}$/
/** How far apart the replicas' clocks may be, beyond the skew a request is allowed. */
const NONCE_CLOCK_MARGIN_SECONDS = 60
// At least 16 bytes: 32 hex characters, or 22 base64url characters when the value is not pure hex.
const HEX_NONCE_PATTERN = /^[0-9a-fA-F]{32,128}$/
const B64URL_NONCE_PATTERN = /^[A-Za-z0-9_-]{22,128}$/
const HEX_ONLY = /^[0-9a-fA-F]+$/

interface RefusalSpec {
  type: SecurityEventType
  severity: Severity
  status: 401 | 403
}

const REFUSALS: Record<InternalAuthCode, RefusalSpec> = {
  INTERNAL_AUTH_MISSING_HEADERS: { type: 'AUTH_FAILURE', severity: 'low', status: 401 },
  INTERNAL_AUTH_UNKNOWN_SERVICE: { type: 'AUTH_FAILURE', severity: 'medium', status: 401 },
  INTERNAL_AUTH_UNKNOWN_KEY: { type: 'AUTH_FAILURE', severity: 'medium', status: 401 },
  INTERNAL_AUTH_STALE_TIMESTAMP: { type: 'AUTH_FAILURE', severity: 'medium', status: 401 },
  INTERNAL_AUTH_BAD_SIGNATURE: { type: 'INVALID_SIGNATURE', severity: 'high', status: 401 },
  INTERNAL_AUTH_REPLAY: { type: 'REPLAY', severity: 'high', status: 401 },
  INTERNAL_AUTH_FORBIDDEN: { type: 'FORBIDDEN', severity: 'medium', status: 403 },
}

/** Headers that passed the cheap checks in onRequest, waiting for the body in preParsing. */
interface PendingAuth {
  service: string
  keyId: string
  secret: string
  timestamp: string
  nonce: string
  signature: string
  permission: string
}

function headerValue(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name]
  return typeof value === 'string' && value.length > 0 ? value : undefined
}

function isValidNonce(nonce: string): boolean {
  return HEX_ONLY.test(nonce) ? HEX_NONCE_PATTERN.test(nonce) : B64URL_NONCE_PATTERN.test(nonce)
}

function clip(value: string, max: number): string {
  return value.length > max ? value.slice(0, max) : value
}

function payloadTooLarge(limit: number): AppError {
  return new AppError(413, 'PAYLOAD_TOO_LARGE', 'Payload Too Large', `The request body exceeds ${limit} bytes`)
}

/**
 * Buffers the whole payload, giving up past `limit` bytes. On overflow it only stops listening
 * (like Fastify's own parser) instead of destroying the stream, which would take the socket and
 * the 413 answer down with it; Node discards the unread rest once the reply is sent.
 */
function readRawBody(payload: Readable, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const cleanup = (): void => {
      payload.removeListener('data', onData)
      payload.removeListener('end', onEnd)
      payload.removeListener('error', onError)
    }
    const onData = (chunk: Buffer | string): void => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
      size += buf.length
      if (size > limit) {
        cleanup()
        reject(payloadTooLarge(limit))
        return
      }
      chunks.push(buf)
    }
    const onEnd = (): void => {
      cleanup()
      resolve(Buffer.concat(chunks, size))
    }
    const onError = (err: Error): void => {
      cleanup()
      reject(err)
    }
    payload.on('data', onData)
    payload.on('end', onEnd)
    payload.on('error', onError)
  })
}

async function internalAuthPlugin(fastify: FastifyInstance, options: InternalAuthPluginOptions): Promise<void> {
  const { keys, permissions, redis } = options
  const noncePrefix = options.noncePrefix ?? DEFAULT_NONCE_PREFIX
  const maxSkewSeconds = options.maxSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS
  const source = options.source ?? 'internal-auth'
  const now = options.now ?? Date.now
  const onRefusal = options.onRefusal
  if (!Number.isFinite(maxSkewSeconds) || maxSkewSeconds <= 0) {
    throw new Error('internal-auth: maxSkewSeconds must be a positive number')
  }
  // A timestamp passes for 2 × maxSkew + 1 s (whole seconds, both bounds inclusive), and replicas'
  // clocks differ: the nonce must outlive every moment any replica would still take its request.
  const nonceTtlSeconds = Math.ceil(2 * maxSkewSeconds) + 1 + NONCE_CLOCK_MARGIN_SECONDS
  const pending = new WeakMap<FastifyRequest, PendingAuth>()

  fastify.decorateRequest('internalCaller', null)

  // A typo'd opt-in (missing or empty permission) would otherwise let anything with a key through.
  fastify.addHook('onRoute', (route) => {
    const auth = route.config?.internalAuth
    if (auth !== undefined && (typeof auth.permission !== 'string' || auth.permission.length === 0)) {
      throw new Error(`internal-auth: route ${route.method} ${route.url} needs config.internalAuth.permission`)
    }
  })

  /**
   * `caller` is the service the request names; `proven` says whether its signature proved it. Only
   * a proven service is the event's actor: reporters fold repeats by actor instead of IP, so a name
   * anyone can send would let one client turn each refusal into its own event by varying it. An
   * unproven name is kept as `details.claimedService`, and the event folds by IP.
   */
  function refuse(request: FastifyRequest, code: InternalAuthCode, detail: string, caller: { service: string | null; proven: boolean }, details: Record<string, unknown>): AppError {
    const spec = REFUSALS[code]
    const claimed = caller.service === null ? null : clip(caller.service, 200)
    request.log.warn({ code, caller: claimed, proven: caller.proven }, 'internal request refused')
    if (onRefusal !== undefined) {
      const event: InternalAuthRefusal = {
        id: randomUUID(),
        type: spec.type,
        severity: spec.severity,
        source,
        code,
        actor: caller.proven ? claimed : null,
        ip: clip(request.ip, 64),
        method: clip(request.method, 16),
        path: clip(request.raw.url ?? '', 2048),
        requestId: clip(String(request.id), 128),
        details: !caller.proven && claimed !== null ? { claimedService: claimed, ...details } : details,
        occurredAt: new Date(now()).toISOString(),
      }
      // Deferred past the reply so a slow or throwing callback cannot delay or change the answer.
      setImmediate(() => {
        try {
          const result = onRefusal(event)
          if (result !== undefined && typeof result.then === 'function') {
            result.then(undefined, (err: unknown) => request.log.warn({ err }, 'internal-auth onRefusal failed'))
          }
        } catch (err) {
          request.log.warn({ err }, 'internal-auth onRefusal failed')
        }
      })
    }
    return markReported(spec.status === 403 ? new ForbiddenError(code, detail) : new UnauthorizedError(code, detail))
  }

  // Cheap checks first, so forged or stale requests are refused before their body is read.
  fastify.addHook('onRequest', async (request) => {
    const permission = request.routeOptions.config?.internalAuth?.permission
    if (permission === undefined) return

    const service = headerValue(request, HEADER_SERVICE)
    const keyId = headerValue(request, HEADER_KEY_ID)
    const timestamp = headerValue(request, HEADER_TIMESTAMP)
    const nonce = headerValue(request, HEADER_NONCE)
    const signature = headerValue(request, HEADER_SIGNATURE)
    // Nothing here is proven yet: every refusal before the signature check names a claim only.
    const claim = { service: service ?? null, proven: false }

    if (service === undefined || keyId === undefined || timestamp === undefined || nonce === undefined || signature === undefined) {
      const present: Record<string, string | undefined> = {
        [HEADER_SERVICE]: service,
        [HEADER_KEY_ID]: keyId,
        [HEADER_TIMESTAMP]: timestamp,
        [HEADER_NONCE]: nonce,
        [HEADER_SIGNATURE]: signature,
      }
      const missing = Object.keys(present).filter((name) => present[name] === undefined)
      throw refuse(request, 'INTERNAL_AUTH_MISSING_HEADERS', `Missing internal auth headers: ${missing.join(', ')}`, claim, { missing })
    }
    const malformed: string[] = []
    if (!TIMESTAMP_PATTERN.test(timestamp)) malformed.push(HEADER_TIMESTAMP)
    if (!isValidNonce(nonce)) malformed.push(HEADER_NONCE)
    if (!signature.startsWith(`${SIGNATURE_VERSION}=`)) malformed.push(HEADER_SIGNATURE)
    if (malformed.length > 0) {
      throw refuse(request, 'INTERNAL_AUTH_MISSING_HEADERS', `Malformed internal auth headers: ${malformed.join(', ')}`, claim, { malformed })
    }

    if (!hasService(keys, service)) {
      throw refuse(request, 'INTERNAL_AUTH_UNKNOWN_SERVICE', 'Unknown calling service', claim, {})
    }
    const secret = lookupSecret(keys, service, keyId)
    if (secret === undefined) {
      throw refuse(request, 'INTERNAL_AUTH_UNKNOWN_KEY', 'Unknown key id for this service', claim, { keyId: clip(keyId, 64) })
    }

    // Whole seconds on both sides, so "more than maxSkew" has one meaning at the boundary.
    const skew = Math.floor(now() / 1000) - Number(timestamp)
    if (Math.abs(skew) > maxSkewSeconds) {
      throw refuse(request, 'INTERNAL_AUTH_STALE_TIMESTAMP', `Timestamp is more than ${maxSkewSeconds} s from the server clock`, claim, {
        keyId,
        timestamp,
        skewSeconds: skew,
      })
    }

    pending.set(request, { service, keyId, secret, timestamp, nonce, signature, permission })
  })

  // The signature covers the body bytes exactly as received, so they are hashed here, before any
  // parser sees them, and handed on unchanged as a fresh stream for the route's content-type parser.
  fastify.addHook('preParsing', async (request, _reply, payload) => {
    const auth = pending.get(request)
    if (auth === undefined) return payload
    pending.delete(request)

    const limit = request.routeOptions.bodyLimit
    if (Number(request.headers['content-length']) > limit) throw payloadTooLarge(limit)
    const raw = await readRawBody(payload, limit)
    const path = request.raw.url ?? ''
    const valid = verifySignature({
      secret: auth.secret,
      signature: auth.signature,
      service: auth.service,
      method: request.method,
      pathWithQuery: path,
      timestamp: auth.timestamp,
      nonce: auth.nonce,
      bodySha256: bodySha256(raw),
    })
    if (!valid) {
      const claim = { service: auth.service, proven: false }
      throw refuse(request, 'INTERNAL_AUTH_BAD_SIGNATURE', 'Signature does not match the request', claim, {
        keyId: auth.keyId,
        timestamp: auth.timestamp,
        nonce: auth.nonce,
      })
    }
    // From here the signature held: the named service did sign this request (a replay's too,
    // whoever sent it again).
    const signer = { service: auth.service, proven: true }

    // Only after the signature holds, so nobody can burn nonces they did not sign.
    let stored: string | null
    try {
      stored = await redis.set(`${noncePrefix}${auth.service}:${auth.nonce}`, '1', 'EX', nonceTtlSeconds, 'NX')
    } catch (err) {
      request.log.error({ err }, 'internal-auth nonce store unavailable')
      throw new ServiceUnavailableError('INTERNAL_AUTH_NONCE_STORE_UNAVAILABLE', 'Cannot verify request freshness right now')
    }
    if (stored === null) {
      throw refuse(request, 'INTERNAL_AUTH_REPLAY', 'Nonce already used', signer, {
        keyId: auth.keyId,
        timestamp: auth.timestamp,
        nonce: auth.nonce,
      })
    }

    const granted = Object.hasOwn(permissions, auth.service) ? permissions[auth.service] : undefined
    if (granted === undefined || !granted.includes(auth.permission)) {
      throw refuse(request, 'INTERNAL_AUTH_FORBIDDEN', `Service lacks permission ${auth.permission}`, signer, {
        keyId: auth.keyId,
        permission: auth.permission,
      })
    }

    request.internalCaller = { service: auth.service, keyId: auth.keyId }
    const fresh = new PassThrough() as PassThrough & { receivedEncodedLength?: number }
    fresh.receivedEncodedLength = raw.length
    fresh.end(raw)
    return fresh
  })

  // Fail closed: an opted-in route must never run without a verified caller, whatever hook ordering
  // or encapsulation a service ends up with.
  fastify.addHook('preHandler', async (request) => {
    const permission = request.routeOptions.config?.internalAuth?.permission
    if (permission !== undefined && request.internalCaller === null) {
      throw new UnauthorizedError('INTERNAL_AUTH_MISSING_HEADERS', 'Request was not verified')
    }
  })
}

export const internalAuth = fp(internalAuthPlugin, { fastify: '5.x', name: '@hub/internal-auth' })
export default internalAuth

/** The verified caller on an opted-in route; throws when called anywhere else. */
export function requireInternalCaller(request: FastifyRequest): InternalCaller {
  if (request.internalCaller === null) {
    throw new UnauthorizedError('INTERNAL_AUTH_MISSING_HEADERS', 'Request was not verified')
  }
  return request.internalCaller
}
