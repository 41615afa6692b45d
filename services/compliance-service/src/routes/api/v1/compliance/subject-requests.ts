// /api/v1/compliance/subject-requests — a tenant admin asks for everything the hub holds about one
// person (export) or for its erasure, then follows the request's progress and, for an export,
// downloads the document. Admin only: a request spans every venue of the tenant, and a manager's
// reach is their own venues.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ProblemSchema } from '@hub/contracts'
import { CursorField, page, readCursor } from '@hub/service-kit'
import { Problems } from '../../../../schemas/compliance.ts'
import { CreateSubjectRequestBody, SubjectExportSchema, SubjectRequestListQuery, SubjectRequestParams, SubjectRequestSchema } from '../../../../schemas/subject-requests.ts'
import { toView } from '../../../../plugins/app/subject-requests/subject-request-service.ts'

const CursorSchema = Type.Object({ at: CursorField.timestamp(), id: CursorField.uuid() }, { additionalProperties: false })
const tags = ['subject requests']
const security = [{ bearerAuth: [] }]
const admin = { auth: { roles: ['admin' as const] } }

const subjectRequestRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post(
    '/subject-requests',
    {
      schema: {
        tags,
        security,
        summary: 'Ask for one person’s data (export) or its erasure, by email and/or provider customer ids; runs as a job',
        body: CreateSubjectRequestBody,
        response: { 202: SubjectRequestSchema, ...Problems },
      },
      config: admin,
    },
    async (request, reply) => reply.code(202).send(await fastify.subjectRequests.create(request.caller, request.body)),
  )

  fastify.get(
    '/subject-requests',
    {
      schema: {
        tags,
        security,
        summary: "The tenant's subject requests, newest first",
        querystring: SubjectRequestListQuery,
        response: { 200: Type.Object({ data: Type.Array(SubjectRequestSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...Problems },
      },
      config: admin,
    },
    async (request) => {
      const { limit, cursor } = request.query
      const before = cursor ? readCursor(cursor, CursorSchema) : undefined
      const { rows, nextCursor } = await page(
        limit,
        (take) => fastify.subjectRequests.list(request.principal.tenantId, { limit: take, ...(before ? { before } : {}) }),
        (last) => ({ at: last.created_at.toISOString(), id: last.id }),
      )
      return { data: rows.map(toView), nextCursor }
    },
  )

  fastify.get(
    '/subject-requests/:id',
    {
      schema: { tags, security, summary: 'One subject request: status, progress and outcome (counts per table)', params: SubjectRequestParams, response: { 200: SubjectRequestSchema, ...Problems } },
      config: admin,
    },
    async (request) => fastify.subjectRequests.get(request.principal.tenantId, request.params.id.toLowerCase()),
  )

  fastify.get(
    '/subject-requests/:id/export',
    {
      schema: {
        tags,
        security,
        summary: 'The export of a finished export request: one JSON document of every row found about the person',
        params: SubjectRequestParams,
        response: { 200: SubjectExportSchema, ...Problems, 409: ProblemSchema },
      },
      config: admin,
    },
    async (request, reply) => {
      const document = await fastify.subjectRequests.exportDocument(request.principal.tenantId, request.params.id.toLowerCase())
      return reply.header('content-disposition', `attachment; filename="subject-export-${request.params.id.toLowerCase()}.json"`).header('cache-control', 'no-store').send(document)
    },
  )
}

export default subjectRequestRoutes
