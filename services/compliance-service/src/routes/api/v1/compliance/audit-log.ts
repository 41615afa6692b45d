// /api/v1/compliance/audit-log — a tenant admin (an auditor) reads the tenant's audit log, newest
// first, and has the hash chain recomputed to prove nothing in it was changed or removed.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { BadRequestError } from '@hub/contracts'
import { decodeCursor, encodeCursor } from '@hub/service-kit'
import { AuditChainVerificationSchema, AuditLogListQuery, AuditLogListSchema, Problems } from '../../../../schemas/compliance.ts'
import { auditEventOf, type AuditLogRow } from '../../../../plugins/app/audit-log-store.ts'

const CursorSchema = Type.Object({ seq: Type.String({ pattern: '^[0-9]{1,19}$' }) })
const tags = ['audit log']
const security = [{ bearerAuth: [] }]

const toEntry = (row: AuditLogRow) => ({ seq: String(row.seq), ...auditEventOf(row), recordedAt: row.recorded_at.toISOString(), prevHash: row.prev_hash, hash: row.hash })

const auditLogRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/audit-log',
    {
      schema: { tags, security, summary: "The caller's tenant's audit log, newest first", querystring: AuditLogListQuery, response: { 200: AuditLogListSchema, ...Problems } },
      config: { auth: { roles: ['admin'] } },
    },
    async (request) => {
      const { limit, cursor, entityType, entityId, action, actorId } = request.query
      const before = cursor ? decodeCursor(cursor, CursorSchema) : undefined
      if (before === null) throw new BadRequestError('INVALID_CURSOR', 'The cursor is malformed.')
      const rows = await fastify.db.withTenant(request.principal.tenantId, (trx) =>
        fastify.auditLogStore.list(trx, { limit: limit + 1, ...(entityType ? { entityType } : {}), ...(entityId ? { entityId } : {}), ...(action ? { action } : {}), ...(actorId ? { actorId } : {}), ...(before ? { beforeSeq: before.seq } : {}) }),
      )
      const page = rows.slice(0, limit)
      const last = page.at(-1)
      return { data: page.map(toEntry), nextCursor: rows.length > limit && last ? encodeCursor({ seq: String(last.seq) }) : null }
    },
  )

  fastify.get(
    '/audit-log/verify',
    {
      schema: { tags, security, summary: "Recompute the tenant's hash chain and name the first entry that does not fit", response: { 200: AuditChainVerificationSchema, ...Problems } },
      config: { auth: { roles: ['admin'] } },
    },
    async (request) => {
      const tenantId = request.principal.tenantId
      return fastify.db.withTenant(tenantId, (trx) => fastify.auditLogStore.verify(trx, tenantId))
    },
  )
}

export default auditLogRoutes
