// /api/v1/compliance/security-events — a tenant admin reviews and resolves refusals in its tenant;
// admins of the operator tenants (OPERATOR_TENANT_IDS) also review and resolve the tenantless ones
// (`scope=system`: anonymous callers, unknown services). Nobody else ever sees those.
import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { Knex } from 'knex'
import { ConflictError, ForbiddenError, NotFoundError, ProblemSchema } from '@hub/contracts'
import { CursorField, page, readCursor } from '@hub/service-kit'
import { EventParams, Problems, ResolveBody, SecurityEventListQuery, SecurityEventSchema } from '../../../../schemas/compliance.ts'
import type { SecurityEvent } from '../../../../plugins/app/security-event-repository.ts'

const notFound = () => new NotFoundError('SECURITY_EVENT_NOT_FOUND', 'No such security event in your tenant.')
const alreadyResolved = () => new ConflictError('SECURITY_EVENT_ALREADY_RESOLVED', 'This event is already resolved.')

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
      const id = request.params.id.toLowerCase()
      const note = request.body.note ?? null
      // compliance-service's own admin action goes straight into the log it keeps, always the
      // caller's tenant's: a tenantless event has no log of its own, and an operator's actions are
      // its tenant's record.
      const audit = (trx: Knex.Transaction, resolved: SecurityEvent) =>
        fastify.auditLogStore.append(trx, principal.tenantId, [
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
            after: { resolvedAt: resolved.resolvedAt, resolutionNote: resolved.resolutionNote, ...(resolved.tenantId === null ? { tenantless: true } : {}) },
            requestId: String(request.id),
            ip: request.ip,
            occurredAt: new Date().toISOString(),
          },
        ])

      const own = await fastify.db.withTenant(principal.tenantId, async (trx) => {
        const resolved = await fastify.securityEventStore.resolve(trx, id, principal.userId, note)
        if (resolved) {
          await audit(trx, resolved)
          return resolved
        }
        if (await fastify.securityEventStore.findById(trx, id)) throw alreadyResolved()
        return null
      })
      if (own) return own
      // Operators list the tenantless events (`scope=system`), so they resolve them too; anyone
      // else gets the same 404 as for another tenant's event, learning nothing about either.
      if (!opts.operatorTenantIds.includes(principal.tenantId)) throw notFound()
      return fastify.db.withSystemScope(async (trx) => {
        const resolved = await fastify.securityEventStore.resolveTenantless(trx, id, principal.userId, note, principal.tenantId)
        if (resolved) {
          await audit(trx, resolved)
          return resolved
        }
        if (await fastify.securityEventStore.findById(trx, id, { tenantless: true })) throw alreadyResolved()
        throw notFound()
      })
    },
  )
}

export default securityEventRoutes
