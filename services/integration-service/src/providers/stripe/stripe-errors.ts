// Stripe SDK errors as the hub's typed provider errors.
import Stripe from 'stripe'
import { ProviderAuthError, ProviderError, ProviderInvalidError, ProviderNotFoundError, ProviderRateLimitedError, ProviderUnavailableError, parseRetryAfter } from '../provider-errors.ts'

/** Wait used when a 429 carries no Retry-After (Stripe normally sends none). */
export const DEFAULT_RETRY_AFTER_MS = 1000

function headerOf(headers: unknown, name: string): string | undefined {
  if (!headers || typeof headers !== 'object') return undefined
  const value = (headers as Record<string, unknown>)[name]
  if (Array.isArray(value)) return typeof value[0] === 'string' ? value[0] : undefined
  return typeof value === 'string' ? value : undefined
}

export function toProviderError(error: unknown, defaultRetryAfterMs = DEFAULT_RETRY_AFTER_MS): unknown {
  if (error instanceof ProviderError) return error
  const errors = Stripe.errors
  if (!(error instanceof errors.StripeError)) return error
  const status = error.statusCode
  const options = { providerCode: error.code ?? error.rawType ?? undefined, status, cause: error }
  const message = `Stripe: ${error.message}`
  if (error instanceof errors.StripeRateLimitError) {
    const retryAfterMs = parseRetryAfter(headerOf(error.headers, 'retry-after')) ?? defaultRetryAfterMs
    return new ProviderRateLimitedError('stripe', message, retryAfterMs, options)
  }
  // Revoked Connect access answers 403 on the platform's Stripe-Account requests: re-authorize.
  if (error instanceof errors.StripeAuthenticationError || error instanceof errors.StripePermissionError) return new ProviderAuthError('stripe', message, options)
  if (error instanceof errors.StripeInvalidGrantError || error instanceof errors.StripeInvalidClientError) return new ProviderAuthError('stripe', message, options)
  if (error instanceof errors.StripeOAuthError) return new ProviderInvalidError('stripe', message, options)
  if (error instanceof errors.StripeConnectionError) return new ProviderUnavailableError('stripe', message, options)
  if (error instanceof errors.StripeInvalidRequestError) {
    if (status === 404 || (status === undefined && error.code === 'resource_missing')) return new ProviderNotFoundError('stripe', message, options)
    return new ProviderInvalidError('stripe', message, options)
  }
  if (error instanceof errors.StripeCardError || error instanceof errors.StripeIdempotencyError) return new ProviderInvalidError('stripe', message, options)
  // StripeAPIError: 5xx, or a 409 idempotency-key-in-use; both are worth a retry.
  if (status === undefined || status >= 500 || status === 409) return new ProviderUnavailableError('stripe', message, options)
  return new ProviderInvalidError('stripe', message, options)
}

export async function call<T>(fn: () => Promise<T>, defaultRetryAfterMs?: number): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    throw toProviderError(error, defaultRetryAfterMs)
  }
}
