// Maps QuickBooks failures onto the hub's typed provider errors. Intuit answers in two shapes
// (gateway `fault.error[]` and service `Fault.Error[]`), sometimes reports ObjectNotFound and
// throttling inside a 400, and does not always send Retry-After on a 429.
import { ProviderAuthError, ProviderInvalidError, ProviderNotFoundError, ProviderRateLimitedError, ProviderUnavailableError, parseRetryAfter } from '../provider-errors.ts'
import type { ProviderError } from '../provider-errors.ts'

export const PROVIDER = 'quickbooks'
/** Wait assumed when Intuit throttles without saying for how long (its window is a minute). */
export const DEFAULT_THROTTLE_WAIT_MS = 60_000

export interface IntuitErrorItem {
  message: string
  detail: string
  code: string
  element: string | undefined
  type: string | undefined
}

/** First error item of either fault shape, or undefined when the body is not a fault. */
export function parseIntuitFault(body: unknown): IntuitErrorItem | undefined {
  if (!body || typeof body !== 'object') return undefined
  const record = body as Record<string, unknown>
  const fault = (record.Fault ?? record.fault) as Record<string, unknown> | undefined
  if (!fault || typeof fault !== 'object') return undefined
  const errors = (fault.Error ?? fault.error) as unknown
  const first = (Array.isArray(errors) ? errors[0] : undefined) as Record<string, unknown> | undefined
  const text = (value: unknown): string => (typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value))
  return {
    message: text(first?.Message ?? first?.message),
    detail: text(first?.Detail ?? first?.detail),
    code: text(first?.code ?? first?.Code),
    element: typeof first?.element === 'string' ? first.element : undefined,
    type: typeof fault.type === 'string' ? fault.type : undefined,
  }
}

function describe(status: number, item: IntuitErrorItem | undefined, tid: string | undefined): string {
  const parts = [`QuickBooks ${status}`]
  if (item?.message) parts.push(item.message)
  if (item?.detail) parts.push(item.detail)
  if (tid) parts.push(`intuit_tid=${tid}`)
  return parts.join(': ')
}

export function mapHttpError(status: number, headers: Record<string, string | string[] | undefined>, body: unknown): ProviderError {
  const item = parseIntuitFault(body)
  const tidHeader = headers.intuit_tid
  const tid = Array.isArray(tidHeader) ? tidHeader[0] : tidHeader
  const message = describe(status, item, tid)
  const code = item?.code || undefined
  const options = { status, ...(code ? { providerCode: code } : {}) }
  const text = `${item?.message ?? ''} ${item?.detail ?? ''}`

  if (status === 401 || status === 403 || code === '3200' || code === '3100' || /AuthenticationFailed|AuthorizationFailed/i.test(text)) {
    return new ProviderAuthError(PROVIDER, message, options)
  }
  if (status === 429 || code === '3001' || /ThrottleExceeded/i.test(text)) {
    const retryHeader = headers['retry-after']
    const retryAfter = parseRetryAfter(Array.isArray(retryHeader) ? retryHeader[0] : retryHeader)
    return new ProviderRateLimitedError(PROVIDER, message, retryAfter ?? DEFAULT_THROTTLE_WAIT_MS, options)
  }
  if (status === 404 || code === '610' || /Object Not Found/i.test(text)) return new ProviderNotFoundError(PROVIDER, message, options)
  if (status >= 500) return new ProviderUnavailableError(PROVIDER, message, options)
  return new ProviderInvalidError(PROVIDER, message, options)
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
])

/** Transport failures: timeouts, resets, refused connections. Caller aborts are rethrown as they are. */
export function mapTransportError(error: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) return error
  const code = (error as { code?: unknown } | null)?.code
  const message = error instanceof Error ? error.message : String(error)
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || code.startsWith('UND_ERR'))) {
    return new ProviderUnavailableError(PROVIDER, `QuickBooks unreachable: ${code} ${message}`, { providerCode: code, cause: error })
  }
  return new ProviderUnavailableError(PROVIDER, `QuickBooks request failed: ${message}`, { cause: error })
}
