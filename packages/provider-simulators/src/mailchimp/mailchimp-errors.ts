// Mailchimp's error documents: RFC 7807 problem+json with its own `type` URL and a fresh
// `instance` uuid per error. The titles and details are the ones the real API sends.
import { randomUUID } from 'node:crypto'
import type { FastifyReply } from 'fastify'
import type { FaultRenderer } from '../common/faults.ts'

export const ERROR_TYPE = 'https://mailchimp.com/developer/marketing/docs/errors/'

export interface FieldError {
  field: string
  message: string
}

export interface MailchimpProblem {
  type: string
  title: string
  status: number
  detail: string
  instance: string
  errors?: FieldError[]
}

export function problem(status: number, title: string, detail: string, errors?: FieldError[]): MailchimpProblem {
  return { type: ERROR_TYPE, title, status, detail, instance: randomUUID(), ...(errors ? { errors } : {}) }
}

export function sendProblem(reply: FastifyReply, body: MailchimpProblem): FastifyReply {
  return reply.code(body.status).header('content-type', 'application/problem+json; charset=utf-8').send(JSON.stringify(body))
}

export const PROBLEMS = {
  apiKeyMissing: () => problem(401, 'API Key Missing', 'Your request did not include an API key.'),
  apiKeyInvalid: () => problem(401, 'API Key Invalid', "Your API key may be invalid, or you've attempted to access the wrong datacenter."),
  notFound: () => problem(404, 'Resource Not Found', 'The requested resource could not be found.'),
  invalidResource: (errors: FieldError[]) => problem(400, 'Invalid Resource', "The resource submitted could not be validated. For field-specific details, see the 'errors' array.", errors),
  badRequest: (detail: string) => problem(400, 'Bad Request', detail),
  jsonParse: () => problem(400, 'JSON Parse Exception', 'We encountered an unspecified JSON parsing error.'),
  memberExists: (email: string) => problem(400, 'Member Exists', `${email} is already a list member. Use PUT to insert or update list members.`),
  tooManyRequests: () => problem(429, 'Too Many Requests', 'You have exceeded the limit of 10 simultaneous connections.'),
  internal: () => problem(500, 'Internal Server Error', 'An unexpected internal error has occurred. Please contact Support for more information.'),
} as const

/**
 * Faults on Mailchimp's wire. A 429 carries no Retry-After: Mailchimp never sends one (its limit
 * is on simultaneous connections, not on a time window), so `retryAfterSeconds` is ignored.
 * Mailchimp tokens never expire, so an "expired" token looks like a revoked one.
 */
export const mailchimpFaultRenderer: FaultRenderer = {
  render(kind, _plan, reply) {
    switch (kind) {
      case 'rate_limit':
        return sendProblem(reply, PROBLEMS.tooManyRequests())
      case 'server_error':
        return sendProblem(reply, PROBLEMS.internal())
      case 'expired_token':
        return sendProblem(reply, PROBLEMS.apiKeyInvalid())
    }
  },
}
