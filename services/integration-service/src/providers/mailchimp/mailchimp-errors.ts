// Maps what the SDK rejects with (superagent errors carrying Mailchimp's problem+json body, or
// socket/timeout errors) onto the hub's typed provider errors.
import { ProviderAuthError, ProviderInvalidError, ProviderNotFoundError, ProviderRateLimitedError, ProviderUnavailableError, parseRetryAfter } from '../provider-errors.ts'
import type { ProviderError } from '../provider-errors.ts'

const PROVIDER = 'mailchimp'
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'ETIME', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET'])

interface SuperagentError {
  status?: number
  code?: string
  timeout?: number
  message?: string
  response?: { body?: unknown; text?: string; headers?: Record<string, string | undefined> }
}

interface Problem {
  title?: string
  detail?: string
  errors?: Array<{ field?: string; message?: string }>
}

function problemOf(error: SuperagentError): Problem {
  const body = error.response?.body
  if (body && typeof body === 'object') return body as Problem
  try {
    return JSON.parse(error.response?.text ?? '') as Problem
  } catch {
    return {}
  }
}

export interface ErrorMappingOptions {
  /** Mailchimp's 429 carries no Retry-After; this is the wait we ask for instead. */
  rateLimitWaitMs: number
}

export function toProviderError(error: unknown, options: ErrorMappingOptions): ProviderError | unknown {
  if (error === null || typeof error !== 'object') return error
  const failure = error as SuperagentError
  if (typeof failure.status === 'number') {
    const status = failure.status
    const problem = problemOf(failure)
    const fields = problem.errors?.map((entry) => `${entry.field ?? '?'}: ${entry.message ?? ''}`).join('; ')
    const message = `Mailchimp ${status} ${problem.title ?? 'error'}: ${problem.detail ?? failure.message ?? ''}${fields ? ` (${fields})` : ''}`
    const details = { status, cause: error, ...(problem.title ? { providerCode: problem.title } : {}) }
    if (status === 401 || status === 403) return new ProviderAuthError(PROVIDER, message, details)
    if (status === 404) return new ProviderNotFoundError(PROVIDER, message, details)
    if (status === 429) {
      const wait = parseRetryAfter(failure.response?.headers?.['retry-after']) ?? options.rateLimitWaitMs
      return new ProviderRateLimitedError(PROVIDER, message, wait, details)
    }
    if (status >= 500) return new ProviderUnavailableError(PROVIDER, message, details)
    return new ProviderInvalidError(PROVIDER, message, details)
  }
  if (failure.timeout !== undefined || (failure.code && NETWORK_CODES.has(failure.code)) || /socket hang up/i.test(failure.message ?? '')) {
    const message = failure.timeout !== undefined ? `Mailchimp did not answer within ${failure.timeout} ms` : `Mailchimp connection failed: ${failure.message ?? failure.code}`
    return new ProviderUnavailableError(PROVIDER, message, { cause: error, ...(failure.code ? { providerCode: failure.code } : {}) })
  }
  return error
}

/**
 * Runs one SDK call: typed errors out, and the caller's abort signal honoured. superagent has no
 * signal support, so an abort settles the call at once and the request is left to its timeout.
 */
export async function callMailchimp<T>(signal: AbortSignal | undefined, options: ErrorMappingOptions, call: () => Promise<T>): Promise<T> {
  signal?.throwIfAborted()
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    if (!signal) return
    onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await (signal ? Promise.race([call(), aborted]) : call())
  } catch (error) {
    if (signal?.aborted) throw signal.reason
    throw toProviderError(error, options)
  } finally {
    if (signal && onAbort) signal.removeEventListener('abort', onAbort)
  }
}
