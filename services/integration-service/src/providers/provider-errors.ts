// Provider failures as typed errors, so the sync engine decides retry, wait or stop without
// knowing any provider's wire format.
export type ProviderErrorKind = 'auth' | 'rate_limited' | 'not_found' | 'invalid' | 'unavailable'

export abstract class ProviderError extends Error {
  abstract readonly kind: ProviderErrorKind
  readonly provider: string
  /** The provider's own error code, when it sent one. */
  readonly providerCode: string | undefined
  readonly status: number | undefined

  constructor(provider: string, message: string, options: { providerCode?: string; status?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause })
    this.name = new.target.name
    this.provider = provider
    this.providerCode = options.providerCode
    this.status = options.status
  }
}

/** Credentials refused, revoked or expired: stop and ask for re-authorization. */
export class ProviderAuthError extends ProviderError {
  readonly kind = 'auth' as const
}

/** Too many requests: wait at least `retryAfterMs` before the next call. */
export class ProviderRateLimitedError extends ProviderError {
  readonly kind = 'rate_limited' as const
  readonly retryAfterMs: number
  constructor(provider: string, message: string, retryAfterMs: number, options: { providerCode?: string; status?: number; cause?: unknown } = {}) {
    super(provider, message, options)
    this.retryAfterMs = retryAfterMs
  }
}

export class ProviderNotFoundError extends ProviderError {
  readonly kind = 'not_found' as const
}

/** The request or one record was refused as invalid: fail that record, go on with the run. */
export class ProviderInvalidError extends ProviderError {
  readonly kind = 'invalid' as const
}

/** 5xx, timeouts, connection resets: retry with backoff. */
export class ProviderUnavailableError extends ProviderError {
  readonly kind = 'unavailable' as const
}

/** A webhook whose signature, timestamp or shape does not verify. */
export class WebhookVerificationError extends Error {
  readonly reason: 'missing_signature' | 'bad_signature' | 'stale' | 'malformed'
  constructor(reason: WebhookVerificationError['reason'], message: string) {
    super(message)
    this.name = 'WebhookVerificationError'
    this.reason = reason
  }
}

/** Parses a Retry-After header (seconds or HTTP date) into milliseconds, or undefined. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}
