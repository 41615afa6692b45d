// Stripe's error envelope: `{ "error": { type, code?, message, param?, doc_url? } }`, the status the
// SDKs map to their error classes (400/404 invalid request, 401 authentication, 402 card, 403
// permission, 429 rate limit, 5xx api error), and the headers that come with them.
import type { FastifyReply } from 'fastify'
import type { FaultPlan, FaultRenderer } from '../common/faults.ts'
import { maskKey } from './stripe-ids.ts'

export interface StripeErrorBody {
  type: 'invalid_request_error' | 'api_error' | 'card_error' | 'idempotency_error'
  message: string
  code?: string
  param?: string
  decline_code?: string
  charge?: string
  payment_intent?: unknown
  doc_url?: string
}

export class StripeApiError extends Error {
  readonly status: number
  readonly body: StripeErrorBody
  readonly headers: Record<string, string>

  constructor(status: number, body: StripeErrorBody, headers: Record<string, string> = {}) {
    super(body.message)
    this.status = status
    this.body = body.code && !body.doc_url ? { ...body, doc_url: docUrl(body.code) } : body
    this.headers = headers
  }
}

export function docUrl(code: string): string {
  return `https://stripe.com/docs/error-codes/${code.replace(/_/g, '-')}`
}

export function invalidRequest(message: string, options: { param?: string; code?: string; status?: number } = {}): StripeApiError {
  const body: StripeErrorBody = { type: 'invalid_request_error', message }
  if (options.code) body.code = options.code
  if (options.param) body.param = options.param
  return new StripeApiError(options.status ?? 400, body)
}

/** `No such customer: 'cus_x'`, 404 for the object in the path, 400 for one named by a parameter. */
export function noSuch(kind: string, id: string, param = 'id'): StripeApiError {
  return invalidRequest(`No such ${kind}: '${id}'`, { code: 'resource_missing', param, status: param === 'id' ? 404 : 400 })
}

export function missingParam(param: string): StripeApiError {
  return invalidRequest(`Missing required param: ${param}.`, { code: 'parameter_missing', param })
}

export function unknownParam(param: string): StripeApiError {
  return invalidRequest(`Received unknown parameter: ${param}`, { code: 'parameter_unknown', param })
}

export function sendError(reply: FastifyReply, error: StripeApiError): FastifyReply {
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value)
  return reply.code(error.status).send({ error: error.body })
}

const NO_KEY_MESSAGE =
  "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/."

// Stripe answers every 401 with a Basic challenge, a leftover of its original auth scheme.
const CHALLENGE = { 'WWW-Authenticate': 'Basic realm="Stripe"' }

export function missingKeyError(): StripeApiError {
  return new StripeApiError(401, { type: 'invalid_request_error', message: NO_KEY_MESSAGE }, CHALLENGE)
}

export function invalidKeyError(key: string): StripeApiError {
  return new StripeApiError(401, { type: 'invalid_request_error', message: `Invalid API Key provided: ${maskKey(key)}` }, CHALLENGE)
}

export function expiredKeyError(key: string): StripeApiError {
  return new StripeApiError(401, { type: 'invalid_request_error', code: 'api_key_expired', message: `Expired API Key provided: ${maskKey(key)}. Application access may have been revoked.` }, CHALLENGE)
}

export function accountAccessError(key: string, account: string): StripeApiError {
  return new StripeApiError(403, {
    type: 'invalid_request_error',
    code: 'account_invalid',
    message: `The provided key '${maskKey(key)}' does not have access to account '${account}' (or that account does not exist). Application access may have been revoked.`,
  })
}

export function rateLimitError(retryAfterSeconds?: number): StripeApiError {
  const headers: Record<string, string> = {}
  // Stripe itself sends no Retry-After on 429s; a fault plan may ask for one so clients that
  // honour it can be tested.
  if (retryAfterSeconds !== undefined) headers['Retry-After'] = String(retryAfterSeconds)
  return new StripeApiError(
    429,
    {
      type: 'invalid_request_error',
      code: 'rate_limit',
      message: 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.',
    },
    headers,
  )
}

export function serverError(): StripeApiError {
  return new StripeApiError(
    500,
    {
      type: 'api_error',
      message: "Sorry, something went wrong. We've already been notified of the problem, but if you need any help, you can reach us at support.stripe.com/contact.",
    },
    // The request never ran, so a retry cannot double-apply it.
    { 'Stripe-Should-Retry': 'true' },
  )
}

/** Extracts the key a request authenticated with (Bearer, or Basic with the key as user). */
export function requestKey(authorization: string | undefined): string | null {
  if (!authorization) return null
  const space = authorization.indexOf(' ')
  if (space === -1) return null
  const scheme = authorization.slice(0, space).toLowerCase()
  const value = authorization.slice(space + 1).trim()
  if (scheme === 'bearer') return value || null
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    const user = colon === -1 ? decoded : decoded.slice(0, colon)
    return user || null
  }
  return null
}

export const stripeFaultRenderer: FaultRenderer = {
  render(kind, plan: FaultPlan, reply) {
    switch (kind) {
      case 'rate_limit':
        return sendError(reply, rateLimitError(plan.retryAfterSeconds))
      case 'server_error':
        return sendError(reply, serverError())
      case 'expired_token':
        return sendError(reply, expiredKeyError(requestKey(reply.request.headers.authorization) ?? ''))
    }
  },
}
