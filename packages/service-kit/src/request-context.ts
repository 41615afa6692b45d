// Who is calling, in the one shape every service method takes: the user behind the JWT (tenant,
// user, roles, venues) with the request id and client address the audit trail records. The auth
// plugin builds it once per authenticated request as `request.caller`.
import type { FastifyRequest } from 'fastify'
import type { Principal } from './plugins/auth.ts'

export interface RequestContext {
  principal: Principal
  requestId: string
  ip: string
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set with `principal` on routes that require a user; service methods take this. */
    caller: RequestContext
  }
}

export function requestContext(request: Pick<FastifyRequest, 'id' | 'ip'>, principal: Principal): RequestContext {
  return { principal, requestId: String(request.id), ip: request.ip }
}
