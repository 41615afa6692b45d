// /api/v1/compliance/audit-log/segments — an admin seals a stretch of the tenant's audit chain that
// is past its audit-log period into an archive, downloads it, and then removes the stretch by
// presenting the archive's SHA-256, which no answer shows before the removal (so only whoever holds
// the archive can remove). Nothing is sealed or removed while a legal hold is active in the tenant.
// The checkpoint stays, so `verify` crosses the gap; the archive verifies offline with audit:verify.
import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ConflictError, ProblemSchema, type AuditEventInput } from '@hub/contracts'
import type { FastifyRequest } from 'fastify'
import { sealedImage } from '../../../../../plugins/app/audit-segment-store.ts'
import { AuditSegmentListSchema, AuditSegmentSchema, Problems, RemoveSegmentBody, SealSegmentBody, SegmentParams } from '../../../../../schemas/compliance.ts'

const tags = ['audit log']
const security = [{ bearerAuth: [] }]

const auditSegmentRoutes: FastifyPluginAsyncTypebox<{ maxEntries: number }> = async (fastify, opts) => {
  /** compliance-service's own admin actions go straight into the log it keeps, in the same transaction. */
  const audited = (request: FastifyRequest, action: string, segmentNo: number, after: Record<string, unknown>): AuditEventInput => ({
    id: randomUUID(),
    tenantId: request.principal.tenantId,
    source: 'compliance-service',
    actorType: 'user',
    actorId: request.principal.userId,
    action,
    entityType: 'audit_segment',
    entityId: String(segmentNo),
    before: null,
    after,
    requestId: String(request.id),
    ip: request.ip,
    occurredAt: new Date().toISOString(),
  })

  fastify.get(
    '/audit-log/segments',
    {
      schema: { tags, security, summary: "Sealed segments of the caller's tenant's audit log, oldest first, with when each was removed", response: { 200: AuditSegmentListSchema, ...Problems } },
      config: { auth: { roles: ['admin'] } },
    },
    async (request) => ({ data: await fastify.db.withTenant(request.principal.tenantId, (trx) => fastify.auditSegmentStore.list(trx)) }),
  )

  fastify.post(
    '/audit-log/segments',
    {
      schema: {
        tags,
        security,
        summary:
          "Seal the next segment: from the end of the last one up to the first entry that happened at or after `before`, which may not be later than the tenant's audit-log period allows (signed, archived, not yet removed); refused while a legal hold is active",
        body: SealSegmentBody,
        response: { 201: AuditSegmentSchema, ...Problems, 409: ProblemSchema },
      },
      config: { auth: { roles: ['admin'] } },
    },
    async (request, reply) => {
      const tenantId = request.principal.tenantId
      await fastify.auditDigestJob.storeKeys()
      const segment = await fastify.db.withTenant(tenantId, async (trx) => {
        const sealed = await fastify.auditSegmentStore.seal(trx, tenantId, request.body.before, opts.maxEntries)
        if (!sealed) throw new ConflictError('AUDIT_NOTHING_TO_SEAL', 'No entry after the last segment happened before `before`.')
        await fastify.auditLogStore.append(trx, tenantId, [audited(request, 'audit_segment.sealed', sealed.segmentNo, sealedImage(sealed))])
        return sealed
      })
      return reply.code(201).send(segment)
    },
  )

  fastify.get(
    '/audit-log/segments/:segmentNo/archive',
    {
      schema: {
        tags,
        security,
        summary: "The segment's sealed archive (JSON lines, verifiable offline with `npm run audit:verify`), while it is not removed",
        params: SegmentParams,
        response: { 200: { description: 'The archive; its SHA-256 is what removing the segment asks for', content: { 'application/x-ndjson': { schema: Type.String() } } }, ...Problems, 409: ProblemSchema },
      },
      config: { auth: { roles: ['admin'] } },
    },
    async (request, reply) => {
      const { text } = await fastify.db.withTenant(request.principal.tenantId, (trx) => fastify.auditSegmentStore.archive(trx, request.params.segmentNo))
      return reply.type('application/x-ndjson; charset=utf-8').header('content-disposition', `attachment; filename="audit-segment-${request.params.segmentNo}.jsonl"`).send(text)
    },
  )

  fastify.post(
    '/audit-log/segments/:segmentNo/remove',
    {
      schema: {
        tags,
        security,
        summary:
          "Remove a sealed segment's entries from the log once all are past the tenant's audit-log period; needs the SHA-256 of the archive's bytes (the checkpoint stays, and verify crosses the gap); refused while a legal hold is active",
        params: SegmentParams,
        body: RemoveSegmentBody,
        response: { 200: Type.Object({ segment: AuditSegmentSchema, removedEntries: Type.Integer({ minimum: 0 }) }), ...Problems, 409: ProblemSchema },
      },
      config: { auth: { roles: ['admin'] } },
    },
    async (request) => {
      const tenantId = request.principal.tenantId
      return fastify.db.withTenant(tenantId, async (trx) => {
        const removed = await fastify.auditSegmentStore.remove(trx, tenantId, request.params.segmentNo, request.body.archiveSha256)
        if (removed.removedEntries > 0)
          await fastify.auditLogStore.append(trx, tenantId, [audited(request, 'audit_segment.removed', request.params.segmentNo, { removedEntries: removed.removedEntries, archiveSha256: request.body.archiveSha256 })])
        return removed
      })
    },
  )
}

export default auditSegmentRoutes
