// /api/v1/compliance/security-events — a tenant admin reviews and resolves refusals in its tenant;
// admins of the operator tenants (OPERATOR_TENANT_IDS) also review the tenantless ones
// (`scope=system`: anonymous callers, unknown services). Nobody else ever sees those.
import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ConflictError, ForbiddenError, NotFoundError, ProblemSchema } from '@hub/contracts'
import { CursorField, page, readCursor } from '@hub/service-kit'
import { EventParams, Problems, ResolveBody, SecurityEventListQuery, SecurityEventSchema } from '../../../../schemas/compliance.ts'

const CursorSchema = Type.Object({ at: CursorField.timestamp(), id: CursorField.uuid() })
const tags = ['security events']
const security = [{ bearerAuth: [] }]

const securityEventRoutes: FastifyPluginAsyncTypebox<{ operatorTenantIds: string[] }> = async (fastify, opts) => {
  fastify.get(
    '/security-events',
    {
      schema: {
        tags,
        security,
        summary: "Security events of the caller's tenant (or, for operators, of no tenant), newest first",
        querystring: SecurityEventListQuery,
        response: { 200: Type.Object({ data: Type.Array(SecurityEventSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...Problems },
      },
      config: { auth: { roles: ['admin'] } },
    },
    async (request) => {
      const { limit, cursor, open, type, scope } = request.query
      const before = cursor ? readCursor(cursor, CursorSchema) : undefined
      const filter = { ...(open !== undefined ? { open } : {}), ...(type ? { type } : {}), ...(before ? { before } : {}) }
      // No operators configured means nobody: tenantless events name other tenants' attackers.
      if (scope === 'system' && !opts.operatorTenantIds.includes(request.principal.tenantId)) {
        throw new ForbiddenError('OPERATOR_ONLY', 'Tenantless security events are for admins of the operator tenants (OPERATOR_TENANT_IDS).')
      }
      const { rows, nextCursor } = await page(
        limit,
        (take) =>
          scope === 'system'
            ? fastify.db.withSystemScope((trx) => fastify.securityEventStore.list(trx, { ...filter, limit: take, tenantless: true }))
            : fastify.db.withTenant(request.principal.tenantId, (trx) => fastify.securityEventStore.list(trx, { ...filter, limit: take })),
        (last) => ({ at: last.occurredAt, id: last.id }),
      )
      return { data: rows, nextCursor }
    },
  )

  fastify.post(
    '/security-events/:id/resolve',
    {
      schema: { tags, security, summary: 'Resolve a security event', params: EventParams, body: ResolveBody, response: { 200: SecurityEventSchema, ...Problems, 409: ProblemSchema } },
      config: { auth: { roles: ['admin'] } },
    },
    async (request) => {
      const { principal } = request
      return fastify.db.withTenant(principal.tenantId, async (trx) => {
        const resolved = await fastify.securityEventStore.resolve(trx, request.params.id, principal.userId, request.body.note ?? null)
        if (resolved) {
          // compliance-service's own admin action goes straight into the log it keeps.
          await fastify.auditLogStore.append(trx, principal.tenantId, [
            {
              id: randomUUID(),
              tenantId: principal.tenantId,
              source: 'compliance-service',
              actorType: 'user',
              actorId: principal.userId,
              action: 'security_event.resolved',
              entityType: 'security_event',
              entityId: resolved.id,
              before: { resolvedAt: null },
              after: { resolvedAt: resolved.resolvedAt, resolutionNote: resolved.resolutionNote },
              requestId: String(request.id),
              ip: request.ip,
              occurredAt: new Date().toISOString(),
            },
          ])
          return resolved
        }
        const existing = await fastify.securityEventStore.findById(trx, request.params.id)
        if (!existing) throw new NotFoundError('SECURITY_EVENT_NOT_FOUND', 'No such security event in your tenant.')
        throw new ConflictError('SECURITY_EVENT_ALREADY_RESOLVED', 'This event is already resolved.')
      })
    },
  )
}

export default securityEventRoutes
