// Square's auth layer for /v2: `Authorization: Bearer <token>`, refusals in the v2 error
// envelope, OAuth scopes checked per endpoint (personal access tokens carry every scope).
import type { FastifyRequest } from 'fastify'
import { invalid, squareError, tokenExpired, unauthorized } from './square-errors.ts'
import type { SquareAccount, SquareStore } from './square-store.ts'

export const SQUARE_SCOPES = ['MERCHANT_PROFILE_READ', 'CUSTOMERS_READ', 'CUSTOMERS_WRITE', 'PAYMENTS_READ', 'PAYMENTS_WRITE', 'ITEMS_READ', 'ITEMS_WRITE', 'ORDERS_READ', 'INVOICES_READ'] as const

export interface SquareCaller {
  account: SquareAccount
  token: string
  /** null for personal access tokens, which hold every permission of the seller. */
  scopes: string[] | null
}

// Kept beside the request rather than augmenting Fastify's types, which other simulators share.
const callers = new WeakMap<FastifyRequest, SquareCaller>()

export function attachCaller(request: FastifyRequest, caller: SquareCaller): void {
  callers.set(request, caller)
}

/** Resolves the bearer token or throws the exact refusal Square sends. */
export function authenticate(store: SquareStore, request: FastifyRequest): SquareCaller {
  const header = request.headers.authorization
  if (!header) {
    throw unauthorized(
      'Your request did not include an `Authorization` http header with an access token. The header value is expected to be of the format "Bearer TOKEN" (without quotation marks), where TOKEN is to be replaced with your access token (e.g. "Bearer ABC123def456GHI789jkl0"). For more information, see https://developer.squareup.com/docs/build-basics/access-tokens.',
    )
  }
  const match = /^Bearer\s+(\S+)$/i.exec(header)
  if (!match?.[1]) {
    throw unauthorized(
      'The `Authorization` http header of your request was malformed. The header value is expected to be of the format "Bearer TOKEN" (without quotation marks), where TOKEN is to be replaced with your access token (e.g. "Bearer ABC123def456GHI789jkl0"). For more information, see https://developer.squareup.com/docs/build-basics/access-tokens.',
    )
  }
  const resolution = store.resolveToken(match[1])
  if (resolution.ok) return { account: resolution.account, token: resolution.token, scopes: resolution.scopes }
  switch (resolution.reason) {
    case 'expired':
      throw tokenExpired()
    case 'oauth_revoked':
      throw squareError(401, 'AUTHENTICATION_ERROR', 'ACCESS_TOKEN_REVOKED', 'The access token has been revoked.')
    default:
      throw unauthorized()
  }
}

export function requireScopes(caller: SquareCaller, ...scopes: string[]): void {
  if (caller.scopes === null) return
  const missing = scopes.filter((scope) => !caller.scopes?.includes(scope))
  if (missing.length === 0) return
  throw squareError(
    403,
    'AUTHENTICATION_ERROR',
    'INSUFFICIENT_SCOPES',
    `The merchant has not given your application sufficient permissions to do this. Have the merchant re-authorize your application with the following scopes: ${missing.join(', ')}.`,
  )
}

/** The caller resolved by the onRequest hook; routes under /v2 always have one. */
export function callerOf(request: FastifyRequest): SquareCaller {
  const caller = callers.get(request)
  if (!caller) throw unauthorized()
  return caller
}

/** `Square-Version` is optional (the app's default applies) but must be a YYYY-MM-DD date. */
export function checkSquareVersion(request: FastifyRequest): void {
  const version = request.headers['square-version']
  if (version === undefined) return
  if (typeof version !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(version) || Number.isNaN(Date.parse(version))) {
    throw invalid('INVALID_SQUARE_VERSION_FORMAT', `Invalid Square-Version format "${String(version)}". Expected YYYY-MM-DD.`)
  }
}
