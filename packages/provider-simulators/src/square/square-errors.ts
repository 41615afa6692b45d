// Square's v2 error envelope: `{"errors":[{category, code, detail, field?}]}` for every failure,
// including auth refusals and rate limits.
import type { FastifyReply } from 'fastify'
import type { FaultPlan, FaultRenderer } from '../common/faults.ts'

export type SquareErrorCategory = 'API_ERROR' | 'AUTHENTICATION_ERROR' | 'INVALID_REQUEST_ERROR' | 'RATE_LIMIT_ERROR' | 'PAYMENT_METHOD_ERROR' | 'REFUND_ERROR'

export interface SquareErrorItem {
  category: SquareErrorCategory
  code: string
  detail: string
  field?: string
}

/** Thrown inside route handlers; the simulator's error handler renders it in Square's format. */
export class SquareApiError extends Error {
  readonly status: number
  readonly errors: SquareErrorItem[]
  readonly headers: Record<string, string>

  constructor(status: number, errors: SquareErrorItem[], headers: Record<string, string> = {}) {
    super(errors[0]?.detail ?? 'Square API error')
    this.status = status
    this.errors = errors
    this.headers = headers
  }
}

export function squareError(status: number, category: SquareErrorCategory, code: string, detail: string, field?: string): SquareApiError {
  return new SquareApiError(status, [{ category, code, detail, ...(field === undefined ? {} : { field }) }])
}

export const invalid = (code: string, detail: string, field?: string): SquareApiError => squareError(400, 'INVALID_REQUEST_ERROR', code, detail, field)

export const notFound = (detail: string): SquareApiError => squareError(404, 'INVALID_REQUEST_ERROR', 'NOT_FOUND', detail)

export function sendSquareError(reply: FastifyReply, error: SquareApiError): FastifyReply {
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value)
  return reply.code(error.status).type('application/json').send({ errors: error.errors })
}

export const unauthorized = (detail = 'This request could not be authorized.'): SquareApiError => squareError(401, 'AUTHENTICATION_ERROR', 'UNAUTHORIZED', detail)

export const tokenExpired = (): SquareApiError => squareError(401, 'AUTHENTICATION_ERROR', 'ACCESS_TOKEN_EXPIRED', 'The access token has expired. Obtain a new access token with the refresh token.')

export function rateLimited(retryAfterSeconds: number): SquareApiError {
  return new SquareApiError(429, [{ category: 'RATE_LIMIT_ERROR', code: 'RATE_LIMITED', detail: 'The application has exceeded the rate limit. Retry the request after some time.' }], { 'retry-after': String(retryAfterSeconds) })
}

export const squareFaultRenderer: FaultRenderer = {
  render(kind, plan: FaultPlan, reply) {
    switch (kind) {
      case 'rate_limit':
        return sendSquareError(reply, rateLimited(plan.retryAfterSeconds ?? 1))
      case 'expired_token':
        return sendSquareError(reply, tokenExpired())
      case 'server_error':
        return sendSquareError(reply, squareError(500, 'API_ERROR', 'INTERNAL_SERVER_ERROR', 'An internal error has occurred, and the API was unable to service your request.'))
    }
  },
}
