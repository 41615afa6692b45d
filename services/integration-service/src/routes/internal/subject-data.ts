// POST /internal/subject-data/search — compliance-service looks for everything integration-service
// holds about a person in a tenant (`subject-data:read`); with `includeData`, for an export.
// POST /internal/subject-data/erase — compliance-service erases that person (`subject-data:erase`):
// personal fields redacted, tombstones stored; repeating the call changes nothing more.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { BadRequestError, INTERNAL_PERMISSIONS, ProblemSchema, SubjectEraseBodySchema, SubjectEraseResultSchema, SubjectSearchBodySchema, SubjectSearchResultSchema, type SubjectIdentifiers } from '@hub/contracts'

const problems = { 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema }

function identified(subject: SubjectIdentifiers): SubjectIdentifiers {
  if (subject.emails.length === 0 && subject.externalIds.length === 0) throw new BadRequestError('SUBJECT_IDENTIFIER_REQUIRED', 'Name the person by at least one email or provider id.')
  return subject
}

const subjectDataRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post(
    '/subject-data/search',
    {
      schema: { tags: ['internal'], hide: true, body: SubjectSearchBodySchema, response: { 200: SubjectSearchResultSchema, ...problems } },
      config: { internalAuth: { permission: INTERNAL_PERMISSIONS.subjectDataRead } },
    },
    async (request) => fastify.subjectData.search(request.body.tenantId.toLowerCase(), identified(request.body.subject), request.body.includeData),
  )

  fastify.post(
    '/subject-data/erase',
    {
      schema: { tags: ['internal'], hide: true, body: SubjectEraseBodySchema, response: { 200: SubjectEraseResultSchema, ...problems } },
      config: { internalAuth: { permission: INTERNAL_PERMISSIONS.subjectDataErase } },
    },
    async (request) => fastify.subjectData.erase(request.body.tenantId.toLowerCase(), request.body.requestId.toLowerCase(), identified(request.body.subject)),
  )
}

export default subjectDataRoutes
