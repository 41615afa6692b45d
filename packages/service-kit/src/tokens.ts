// Development tokens: what the `pnpm token` CLI, `npm start`'s demo token and the tests mint.
import { randomUUID } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import type { Role } from './plugins/auth.ts'

export interface TokenRequest {
  secret: string
  issuer: string
  audience: string
  tenantId: string
  roles: Role[]
  venueIds?: string[]
  sub?: string
  /** Seconds; default one hour. */
  expiresIn?: number
  /** Unix seconds; default now. For tests of refusals (future or stale tokens). */
  issuedAt?: number
  /** For tests of refusals only. */
  algorithm?: 'HS256' | 'HS384' | 'HS512'
}

export function mintDevToken(request: TokenRequest): string {
  const sign = createSigner({
    key: request.secret,
    algorithm: request.algorithm ?? 'HS256',
    iss: request.issuer,
    aud: request.audience,
    expiresIn: (request.expiresIn ?? 3600) * 1000,
  })
  return sign({
    sub: request.sub ?? `user-${randomUUID()}`,
    tenant_id: request.tenantId,
    roles: request.roles,
    ...(request.venueIds ? { venue_ids: request.venueIds } : {}),
    ...(request.issuedAt !== undefined ? { iat: request.issuedAt } : {}),
  })
}
