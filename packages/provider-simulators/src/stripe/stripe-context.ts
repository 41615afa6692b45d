// Per-request state set by the API hooks (who is calling, as which account) and read by routes.
import type { FastifyRequest } from 'fastify'
import type { Credential, RequestOrigin, SimAccount } from './stripe-state.ts'

export interface ApiContext {
  requestId: string
  key: string | null
  credential: Credential | null
  /** The account the request acts on (the connected account when `Stripe-Account` is set). */
  account: SimAccount | null
  /** Set for POSTs carrying an Idempotency-Key, once the key is reserved for this request. */
  idempotencyKey: string | null
}

const contexts = new WeakMap<FastifyRequest, ApiContext>()

export function setContext(request: FastifyRequest, context: ApiContext): void {
  contexts.set(request, context)
}

export function getContext(request: FastifyRequest): ApiContext {
  const context = contexts.get(request)
  if (!context) throw new Error('request has no Stripe context')
  return context
}

export function accountOf(request: FastifyRequest): SimAccount {
  const account = getContext(request).account
  if (!account) throw new Error('request is not authenticated')
  return account
}

export function originOf(request: FastifyRequest): RequestOrigin {
  const context = getContext(request)
  const header = request.headers['idempotency-key']
  return { id: context.requestId, idempotencyKey: typeof header === 'string' ? header : null }
}
