// How a run ends when it does not succeed, decided once here from typed provider errors: stop
// (no retry), retry with backoff, defer (wait without spending an attempt) or hand the job back
// (worker shutting down). Messages that reach sync logs and dead letters are scrubbed of anything
// credential-shaped first.
import { AppError, ConflictError, NotFoundError } from '@hub/contracts'
import { ProviderAuthError, ProviderError, ProviderInvalidError, ProviderRateLimitedError, ProviderUnavailableError } from '../../../providers/provider-errors.ts'

export class SyncAlreadyRunningError extends ConflictError {
  constructor(entities: string[]) {
    super('SYNC_ALREADY_RUNNING', `A run of ${entities.join(', ')} for this connection is already queued or running.`, { entities })
  }
}

export class JobNotFoundError extends NotFoundError {
  constructor() {
    super('JOB_NOT_FOUND', 'No job with this id exists in your tenant.')
  }
}

export class DeadLetterNotFoundError extends NotFoundError {
  constructor() {
    super('DEAD_LETTER_NOT_FOUND', 'No open dead letter with this id exists in your tenant.')
  }
}

export type FailureDisposition = 'stop' | 'retry' | 'defer' | 'handback'

/** A run's failure with the decision attached; what the worker acts on. */
export class SyncFailure extends Error {
  readonly code: string
  readonly disposition: FailureDisposition
  /** Minimum wait before the next attempt (read by the `jittered` backoff). */
  readonly retryAfterMs: number | undefined
  readonly retryImmediately: boolean
  /** Whether a final failure of this kind goes to the dead-letter list. */
  readonly deadLetter: boolean

  constructor(code: string, message: string, options: { disposition: FailureDisposition; retryAfterMs?: number; deadLetter?: boolean; cause?: unknown }) {
    super(scrubSecrets(message), { cause: options.cause })
    this.name = 'SyncFailure'
    this.code = code
    this.disposition = options.disposition
    this.retryAfterMs = options.retryAfterMs
    this.retryImmediately = options.disposition === 'handback'
    this.deadLetter = options.deadLetter ?? options.disposition !== 'stop'
  }
}

/** The circuit breaker of a connection is open: do not call the provider before `retryAfterMs`. */
export class CircuitOpenError extends SyncFailure {
  constructor(retryAfterMs: number) {
    super('CIRCUIT_OPEN', `The provider failed repeatedly; calls are paused for ${Math.ceil(retryAfterMs / 1000)} s.`, { disposition: 'retry', retryAfterMs })
  }
}

/** Another worker moved this run past where this one stands: this one leaves the run (and its log) to it. */
export const runSuperseded = (): SyncFailure => new SyncFailure('RUN_SUPERSEDED', 'Another worker has taken this run over.', { disposition: 'defer', retryAfterMs: 1_000, deadLetter: false })

export const workerStopping = (): SyncFailure => new SyncFailure('WORKER_STOPPING', 'The worker is shutting down; another worker resumes from the last checkpoint.', { disposition: 'handback' })

const SECRET_PATTERNS: RegExp[] = [
  /\b(sk|rk|pk)_(test|live)_[A-Za-z0-9*]{4,}/g,
  /\bwhsec_[A-Za-z0-9]+/g,
  /\bEAAA[A-Za-z0-9_-]{8,}/g,
  /\bBearer\s+[A-Za-z0-9._~+/=-]+/gi,
  /\b[0-9a-f]{32}-us\d+\b/gi,
  /\b(access|refresh)_token[=:]\s*[^\s&,;]+/gi,
  // Long opaque tokens (JWTs, OAuth tokens, base64 keys).
  /\b[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\b/g,
  /\b[A-Za-z0-9+/_-]{40,}={0,2}/g,
]

/** Removes credential-shaped substrings and caps the length. */
export function scrubSecrets(message: string): string {
  let out = message
  for (const pattern of SECRET_PATTERNS) out = out.replace(pattern, '[redacted]')
  return out.length > 1000 ? `${out.slice(0, 997)}...` : out
}

/** Maps anything a run can throw to a SyncFailure. */
export function toSyncFailure(error: unknown): SyncFailure {
  if (error instanceof SyncFailure) return error
  if (error instanceof ProviderRateLimitedError) {
    return new SyncFailure('PROVIDER_RATE_LIMITED', error.message, { disposition: 'defer', retryAfterMs: error.retryAfterMs, cause: error })
  }
  if (error instanceof ProviderUnavailableError) return new SyncFailure('PROVIDER_UNAVAILABLE', error.message, { disposition: 'retry', cause: error })
  if (error instanceof ProviderAuthError) return new SyncFailure('PROVIDER_AUTH', error.message, { disposition: 'stop', deadLetter: false, cause: error })
  if (error instanceof ProviderInvalidError) return new SyncFailure('PROVIDER_INVALID', error.message, { disposition: 'stop', deadLetter: true, cause: error })
  if (error instanceof ProviderError) return new SyncFailure(`PROVIDER_${error.kind.toUpperCase()}`, error.message, { disposition: 'retry', cause: error })
  const code = (error as { code?: unknown })?.code
  if (code === 'CONNECTION_NOT_ACTIVE' || code === 'CONNECTION_NOT_FOUND') {
    return new SyncFailure(code, (error as Error).message, { disposition: 'stop', deadLetter: false, cause: error })
  }
  // The hub's own errors (a busy token refresh...) carry a stable code and a message meant for users.
  if (error instanceof AppError) return new SyncFailure(error.code, error.message, { disposition: 'retry', cause: error })
  // Database or Redis hiccups, bugs: retried, and dead-lettered when they persist. The message
  // of an unknown error may carry internals, so only its class is kept.
  return new SyncFailure('INTERNAL_ERROR', `Internal error (${(error as Error)?.name ?? 'unknown'}).`, { disposition: 'retry', cause: error })
}
