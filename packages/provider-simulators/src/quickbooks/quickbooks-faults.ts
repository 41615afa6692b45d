// QuickBooks' error wire formats. Two shapes coexist at Intuit: the API gateway refuses bad
// tokens with a lower-case `fault`/`error` body plus WWW-Authenticate, while the accounting
// service itself answers `Fault`/`Error` with a fault type (ValidationFault, SystemFault, ...).
import { randomBytes } from 'node:crypto'
import type { FastifyReply } from 'fastify'
import type { FaultPlan, FaultRenderer } from '../common/faults.ts'
import type { QboObject } from './quickbooks-seed.ts'
import { formatIntuitTime } from './quickbooks-time.ts'
import { toIntuitXml } from './quickbooks-xml.ts'

export const WWW_AUTHENTICATE = 'Bearer realm="Intuit", error="invalid_token"'

export interface QboErrorDetail {
  Message: string
  Detail?: string
  code: string
  element?: string
}

export type FaultType = 'ValidationFault' | 'SystemFault' | 'AuthenticationFault' | 'AuthorizationFault' | 'ServiceFault'

export function intuitTid(): string {
  return `1-${randomBytes(4).toString('hex')}-${randomBytes(12).toString('hex')}`
}

export function responseTime(): string {
  return formatIntuitTime(Date.now(), true)
}

function wantsJson(reply: FastifyReply): boolean {
  const accept = reply.request.headers.accept
  return typeof accept === 'string' && accept.toLowerCase().includes('application/json')
}

/** Sends a v3 payload (a `time` is added) as JSON or, without `Accept: application/json`, XML. */
export function sendQbo(reply: FastifyReply, status: number, payload: QboObject): FastifyReply {
  const body = { ...payload, time: responseTime() }
  reply.code(status).header('intuit_tid', intuitTid())
  if (wantsJson(reply)) return reply.type('application/json;charset=UTF-8').send(JSON.stringify(body))
  return reply.type('application/xml;charset=UTF-8').send(toIntuitXml(body))
}

export function sendFault(reply: FastifyReply, status: number, type: FaultType, error: QboErrorDetail): FastifyReply {
  return sendQbo(reply, status, { Fault: { Error: [error], type } })
}

export function sendValidationFault(reply: FastifyReply, message: string, detail: string, code: string, element?: string): FastifyReply {
  return sendFault(reply, 400, 'ValidationFault', { Message: message, Detail: detail, code, ...(element !== undefined ? { element } : {}) })
}

export function sendObjectNotFound(reply: FastifyReply, entity: string, id: string): FastifyReply {
  return sendValidationFault(reply, 'Object Not Found', `Object Not Found : Something you're trying to use has been made inactive. Check the fields with accounts, customers, items, vendors or employees. (${entity} Id=${id})`, '610', '')
}

/** The gateway's 401: always JSON, lower-case keys, with WWW-Authenticate. */
export function sendAuthenticationFailed(reply: FastifyReply, detail: string): FastifyReply {
  return reply
    .code(401)
    .header('intuit_tid', intuitTid())
    .header('www-authenticate', WWW_AUTHENTICATE)
    .type('application/json;charset=UTF-8')
    .send(
      JSON.stringify({
        fault: { error: [{ message: 'message=AuthenticationFailed; errorCode=003200; statusCode=401', detail, code: '3200' }], type: 'AUTHENTICATION' },
        time: responseTime(),
      }),
    )
}

/** A valid token used on another company's URL. */
export function sendAuthorizationFailed(reply: FastifyReply, realmId: string): FastifyReply {
  return sendFault(reply, 403, 'AuthorizationFault', {
    Message: 'message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403',
    Detail: `The token is not authorized for company ${realmId}`,
    code: '3100',
  })
}

/** 429; Intuit only sometimes says how long to wait, so Retry-After is optional. */
export function sendThrottled(reply: FastifyReply, retryAfterSeconds: number | undefined, detail = 'The request limit was reached. Please try again later.'): FastifyReply {
  if (retryAfterSeconds !== undefined) reply.header('retry-after', String(retryAfterSeconds))
  return sendFault(reply, 429, 'ServiceFault', { Message: 'message=ThrottleExceeded; errorCode=003001; statusCode=429', Detail: `ThrottleExceeded: ${detail}`, code: '3001' })
}

export function sendSystemFault(reply: FastifyReply, status = 500): FastifyReply {
  return sendFault(reply, status, 'SystemFault', {
    Message: 'An application error has occurred while processing your request',
    Detail: 'System Failure Error: An unexpected error occurred while accessing or saving your data. Please wait a few minutes and try again.',
    code: '10000',
  })
}

/** Faults on the v3 accounting API in Intuit's format. */
export const qboFaultRenderer: FaultRenderer = {
  render(kind, plan: FaultPlan, reply) {
    switch (kind) {
      case 'rate_limit':
        return sendThrottled(reply, plan.retryAfterSeconds)
      case 'server_error':
        return sendSystemFault(reply)
      case 'expired_token':
        return sendAuthenticationFailed(reply, 'Token expired: the access token has expired')
    }
  },
}

/** Faults on the OAuth endpoints, which speak RFC 6749 rather than v3 faults. */
export const oauthFaultRenderer: FaultRenderer = {
  render(kind, plan: FaultPlan, reply) {
    switch (kind) {
      case 'rate_limit':
        if (plan.retryAfterSeconds !== undefined) reply.header('retry-after', String(plan.retryAfterSeconds))
        return reply.code(429).send({ error: 'too_many_requests', error_description: 'Too many requests' })
      case 'server_error':
        return reply.code(503).send({ error: 'temporarily_unavailable' })
      case 'expired_token':
        return reply.code(400).send({ error: 'invalid_grant' })
    }
  },
}
