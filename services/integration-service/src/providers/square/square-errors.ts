// Square SDK failures → the hub's typed provider errors. The SDK throws SquareError for any
// non-2xx answer (with `statusCode`, the parsed `errors[]` and the raw response headers), the
// same class without a status for transport failures, and SquareTimeoutError for timeouts.
import { SquareError, SquareTimeoutError } from 'square'
import { ProviderAuthError, ProviderError, ProviderInvalidError, ProviderNotFoundError, ProviderRateLimitedError, ProviderUnavailableError, parseRetryAfter } from '../provider-errors.ts'

const PROVIDER = 'square'
/** Square sends no Retry-After on some throttled answers; a second is its documented backoff floor. */
const DEFAULT_RATE_LIMIT_WAIT_MS = 1_000

function describe(error: SquareError): { code: string | undefined; detail: string } {
  const first = error.errors[0]
  const code = first?.code && first.code !== 'Unknown' ? first.code : undefined
  const detail = first && 'detail' in first && typeof first.detail === 'string' ? first.detail : (error.message.split('\n')[0] ?? 'Square error')
  return { code, detail }
}

/**
 * Maps anything thrown by an SDK call. An abort requested by the caller is rethrown as the
 * signal's reason: it is neither a provider failure nor retryable.
 */
export function toProviderError(error: unknown, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason ?? error
  if (error instanceof ProviderError) return error
  if (error instanceof SquareTimeoutError) {
    return new ProviderUnavailableError(PROVIDER, `Square did not answer in time: ${error.message}`, { cause: error })
  }
  if (error instanceof SquareError) {
    const status = error.statusCode
    const { code, detail } = describe(error)
    const options = { providerCode: code, status, cause: error }
    if (status === undefined) return new ProviderUnavailableError(PROVIDER, `Square unreachable: ${detail}`, options)
    if (status === 401 || status === 403) return new ProviderAuthError(PROVIDER, detail, options)
    if (status === 429) {
      const wait = parseRetryAfter(error.rawResponse?.headers.get('retry-after')) ?? DEFAULT_RATE_LIMIT_WAIT_MS
      return new ProviderRateLimitedError(PROVIDER, detail, wait, options)
    }
    if (status === 404) return new ProviderNotFoundError(PROVIDER, detail, options)
    if (status === 408 || status >= 500) return new ProviderUnavailableError(PROVIDER, detail, options)
    return new ProviderInvalidError(PROVIDER, detail, options)
  }
  return new ProviderUnavailableError(PROVIDER, error instanceof Error ? error.message : String(error), { cause: error })
}

/** Runs one SDK call and rethrows its failure as a typed provider error. */
export async function callSquare<T>(signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    throw toProviderError(error, signal)
  }
}
