// Typed HTTP client for `/internal/*` routes: signs every attempt, retries only what is safe to repeat.
import { getGlobalDispatcher, type Dispatcher } from 'undici'
import { signRequest } from './request-signer.ts'

export type InternalMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

export type QueryValue = string | number | boolean | null | undefined
export type Query = Readonly<Record<string, QueryValue | readonly QueryValue[]>>

export interface InternalRequestOptions {
  method: InternalMethod
  /** Starts with `/`; path segments must already be encoded (e.g. with encodeURIComponent). */
  path: string
  /** Serialized with URLSearchParams; undefined and null values are left out. */
  query?: Query
  /** Sent as JSON. */
  body?: unknown
  signal?: AbortSignal
  /** Extra headers, e.g. `x-request-id`. They are not signed and cannot replace signing headers. */
  headers?: Readonly<Record<string, string>>
}

export interface InternalClientOptions {
  /** This service's name, as the receivers know it in INTERNAL_AUTH_KEYS. */
  service: string
  keyId: string
  secret: string
  /** Origin of the receiving service, optionally with a path prefix, e.g. `http://integration:3009`. */
  baseUrl: string
  /** Per attempt: connect + headers, body, and the attempt as a whole. */
  timeoutMs?: number
  /** Extra attempts after the first, for GET/HEAD/PUT/DELETE only. */
  retries?: number
  retryBaseDelayMs?: number
  retryMaxDelayMs?: number
  dispatcher?: Dispatcher
}

export interface InternalClient {
  readonly service: string
  readonly baseUrl: string
  request<T = unknown>(options: InternalRequestOptions): Promise<T>
}

export interface InternalCallErrorInit {
  method: string
  path: string
  /** HTTP status, or null when no response arrived. */
  status: number | null
  code: string
  detail?: string | undefined
  requestId?: string | undefined
  attempts: number
  cause?: unknown
}

/**
 * A failed internal call. Carries what the receiver said (status, problem code, detail) and never
 * the signing headers or secret, so it is safe to log and to wrap into another service's answer.
 */
export class InternalCallError extends Error {
  readonly method: string
  readonly path: string
  readonly status: number | null
  readonly code: string
  readonly detail: string | undefined
  readonly requestId: string | undefined
  readonly attempts: number

  constructor(init: InternalCallErrorInit) {
    super(`${init.method} ${init.path} failed: ${init.status ?? 'no response'} ${init.code}${init.detail ? ` (${init.detail})` : ''}`, init.cause === undefined ? undefined : { cause: init.cause })
    this.name = 'InternalCallError'
    this.method = init.method
    this.path = init.path
    this.status = init.status
    this.code = init.code
    this.detail = init.detail
    this.requestId = init.requestId
    this.attempts = init.attempts
  }

  /**
   * The other service was unreachable, did not answer in time, or failed on its side (5xx): not
   * the caller's fault, and worth retrying later, so a service answers it with 503. A refusal
   * (4xx), our own abort or an unexplained failure is a bug on this side and is not included.
   */
  get unavailable(): boolean {
    if (this.status === null) return this.code === 'INTERNAL_CALL_NETWORK_ERROR' || this.code === 'INTERNAL_CALL_TIMEOUT'
    return this.status >= 500
  }
}

// Methods whose repetition has the same effect as one call; POST and PATCH may not.
const RETRYABLE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'PUT', 'DELETE'])
// Gateway-ish statuses: the receiver (or what is in front of it) did not handle the request.
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([502, 503, 504])
const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
])
const MAX_ERROR_BODY_BYTES = 64 * 1024
const PATH_PATTERN = /^\/[\x21-\x7e]*$/

function errorCode(err: unknown): string | undefined {
  let current: unknown = err
  for (let depth = 0; depth < 3 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string') return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

function serializeQuery(query: Query | undefined): string {
  if (query === undefined) return ''
  const params = new URLSearchParams()
  for (const [name, value] of Object.entries(query)) {
    const values: readonly QueryValue[] = Array.isArray(value) ? value : [value as QueryValue]
    for (const v of values) {
      if (v !== undefined && v !== null) params.append(name, String(v))
    }
  }
  const text = params.toString()
  return text === '' ? '' : `?${text}`
}

function retryAfterMs(header: string | string[] | undefined): number {
  const value = Array.isArray(header) ? header[0] : header
  if (value === undefined || !/^\d+$/.test(value.trim())) return 0
  return Number(value.trim()) * 1000
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

async function readCapped(body: Dispatcher.ResponseData['body'], max: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    const buf = chunk as Buffer
    chunks.push(buf)
    size += buf.length
    if (size >= max) break
  }
  // Leaving the loop early destroys the body, which is what we want for an oversized error page.
  return Buffer.concat(chunks, size).subarray(0, max).toString('utf8')
}

function problemFields(text: string): { code?: string; detail?: string; requestId?: string } {
  try {
    const parsed: unknown = JSON.parse(text)
    if (typeof parsed !== 'object' || parsed === null) return {}
    const p = parsed as Record<string, unknown>
    return {
      ...(typeof p.code === 'string' ? { code: p.code } : {}),
      ...(typeof p.detail === 'string' ? { detail: p.detail } : {}),
      ...(typeof p.requestId === 'string' ? { requestId: p.requestId } : {}),
    }
  } catch {
    return {}
  }
}

class RetryableFailure {
  readonly error: InternalCallError
  readonly delayFloorMs: number
  constructor(error: InternalCallError, delayFloorMs: number) {
    this.error = error
    this.delayFloorMs = delayFloorMs
  }
}

export function createInternalClient(options: InternalClientOptions): InternalClient {
  const timeoutMs = options.timeoutMs ?? 5000
  const retries = Math.max(0, Math.floor(options.retries ?? 2))
  const baseDelayMs = options.retryBaseDelayMs ?? 100
  const maxDelayMs = options.retryMaxDelayMs ?? 2000
  const base = new URL(options.baseUrl)
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new Error(`internal client: baseUrl must be http(s), got ${base.protocol}`)
  }
  const origin = base.origin
  const prefix = base.pathname.replace(/\/+$/, '')

  async function attempt(method: InternalMethod, pathWithQuery: string, body: Buffer | undefined, extraHeaders: Readonly<Record<string, string>> | undefined, userSignal: AbortSignal | undefined, attemptNo: number): Promise<unknown> {
    const dispatcher = options.dispatcher ?? getGlobalDispatcher()
    // Fresh timestamp and nonce on every attempt: a retry with the old ones would be refused as a replay.
    const signed = signRequest({
      service: options.service,
      keyId: options.keyId,
      secret: options.secret,
      method,
      pathWithQuery,
      body,
    })
    const headers: Record<string, string> = {
      accept: 'application/json, application/problem+json',
      ...extraHeaders,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...signed,
    }
    const timeout = AbortSignal.timeout(timeoutMs)
    const signal = userSignal === undefined ? timeout : AbortSignal.any([userSignal, timeout])
    const fail = (status: number | null, code: string, extra: Partial<InternalCallErrorInit> = {}): InternalCallError => new InternalCallError({ method, path: pathWithQuery, status, code, attempts: attemptNo, ...extra })

    let response: Dispatcher.ResponseData
    let text: string
    try {
      response = await dispatcher.request({
        origin,
        path: pathWithQuery,
        method,
        headers,
        body: body ?? null,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal,
      })
      const ok = response.statusCode >= 200 && response.statusCode < 300
      text = ok ? await response.body.text() : await readCapped(response.body, MAX_ERROR_BODY_BYTES)
    } catch (err) {
      if (userSignal?.aborted) throw fail(null, 'INTERNAL_CALL_ABORTED', { cause: err })
      if (timeout.aborted) throw new RetryableFailure(fail(null, 'INTERNAL_CALL_TIMEOUT', { cause: err }), 0)
      const code = errorCode(err)
      if (code !== undefined && NETWORK_ERROR_CODES.has(code)) {
        throw new RetryableFailure(fail(null, 'INTERNAL_CALL_NETWORK_ERROR', { cause: err, detail: code }), 0)
      }
      throw fail(null, 'INTERNAL_CALL_FAILED', { cause: err })
    }

    const status = response.statusCode
    if (status < 200 || status >= 300) {
      const problem = problemFields(text)
      const error = fail(status, problem.code ?? `HTTP_${status}`, { detail: problem.detail, requestId: problem.requestId })
      if (RETRYABLE_STATUSES.has(status)) throw new RetryableFailure(error, retryAfterMs(response.headers['retry-after']))
      throw error
    }
    if (status === 204 || text.length === 0 || method === 'HEAD') return undefined
    const contentType = String(response.headers['content-type'] ?? '')
    if (!/[/+]json\b/.test(contentType)) return text
    try {
      return JSON.parse(text)
    } catch (err) {
      throw fail(status, 'INTERNAL_CALL_BAD_RESPONSE', { cause: err, detail: 'response is not valid JSON' })
    }
  }

  async function request<T>(req: InternalRequestOptions): Promise<T> {
    if (!PATH_PATTERN.test(req.path)) {
      throw new InternalCallError({
        method: req.method,
        path: req.path,
        status: null,
        code: 'INTERNAL_CALL_INVALID_PATH',
        detail: 'path must start with / and contain only encoded, visible ASCII',
        attempts: 0,
      })
    }
    const method = req.method
    const pathWithQuery = `${prefix}${req.path}${serializeQuery(req.query)}`
    // Serialized once: the bytes signed are the bytes sent, on every attempt.
    const body = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body), 'utf8')
    const maxAttempts = RETRYABLE_METHODS.has(method) ? retries + 1 : 1

    for (let attemptNo = 1; ; attemptNo++) {
      try {
        return (await attempt(method, pathWithQuery, body, req.headers, req.signal, attemptNo)) as T
      } catch (err) {
        if (!(err instanceof RetryableFailure)) throw err
        if (attemptNo >= maxAttempts) throw err.error
        // Full jitter spreads retries from many callers; a Retry-After is honoured up to the cap.
        const jitter = Math.random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attemptNo - 1))
        const delay = Math.max(jitter, Math.min(err.delayFloorMs, maxDelayMs))
        try {
          await sleep(delay, req.signal)
        } catch (abortErr) {
          throw new InternalCallError({ method, path: pathWithQuery, status: null, code: 'INTERNAL_CALL_ABORTED', attempts: attemptNo, cause: abortErr })
        }
      }
    }
  }

  return { service: options.service, baseUrl: options.baseUrl, request }
}
