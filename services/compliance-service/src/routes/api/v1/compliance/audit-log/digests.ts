// /api/v1/compliance/audit-log/digests — the signed digests of a tenant's chain head (signed hourly,
// or now on an admin's request); audit-log/signing-keys.ts publishes the keys that verify them.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ConflictError, ProblemSchema } from '@hub/contracts'
import { CursorField, page, readCursor } from '@hub/service-kit'
import { DigestListQuery, DigestListSchema, Problems, SignedDigestSchema } from '../../../../../schemas/compliance.ts'

// digest_no is an integer column: a bigint-sized number would pass int64 and fail in Postgres.
const CursorSchema = Type.Object({ no: CursorField.int32() })
const tags = ['audit log']
const security = [{ bearerAuth: [] }]

const auditDigestRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/audit-log/digests',
    {
      schema: { tags, security, summary: "Signed digests of the caller's tenant's chain head, newest first", querystring: DigestListQuery, response: { 200: DigestListSchema, ...Problems } },
      config: { auth: { roles: ['admin'] } },
    },
    async (request) => {
      const { limit, cursor } = request.query
      const before = cursor ? readCursor(cursor, CursorSchema) : undefined
      const { rows, nextCursor } = await page(
        limit,
        (take) => fastify.db.withTenant(request.principal.tenantId, (trx) => fastify.auditDigestStore.list(trx, { limit: take, ...(before ? { beforeNo: Number(before.no) } : {}) })),
        (last) => ({ no: String(last.digestNo) }),
      )
      return { data: rows, nextCursor }
    },
  )

  fastify.post(
    '/audit-log/digests',
    {
      schema: {
        tags,
        security,
        summary: "Sign the caller's tenant's chain head now (the hourly job does it for every tenant)",
        response: { 201: SignedDigestSchema, ...Problems, 409: ProblemSchema },
      },
      config: { auth: { roles: ['admin'] } },
    },
    async (request, reply) => {
      const tenantId = request.principal.tenantId
      const digest = await fastify.auditDigestJob.signTenant(tenantId)
      if (!digest) throw new ConflictError('AUDIT_HEAD_ALREADY_SIGNED', 'The chain head is already signed by the latest digest, or the audit log is empty.')
      return reply.code(201).send(digest)
    },
  )
}

export default auditDigestRoutes
