// /api/v1/compliance/retention/policy — a tenant admin (the tenant's auditor) reads and sets how
// long each kind of data is kept; every change is a new version, audited.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ProblemSchema, RETENTION_DEFAULT_DAYS, RETENTION_MINIMUM_DAYS } from '@hub/contracts'
import type { FastifyRequest } from 'fastify'
import { Problems } from '../../../../../schemas/compliance.ts'
import { RetentionPolicyBody, RetentionPolicyVersionsQuery, RetentionPolicyVersionsSchema, RetentionPolicyViewSchema } from '../../../../../schemas/retention.ts'

const tags = ['retention']
const security = [{ bearerAuth: [] }]

export const actorOf = (request: FastifyRequest) => ({ tenantId: request.principal.tenantId, userId: request.principal.userId, requestId: String(request.id), ip: request.ip })

const retentionPolicyRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const view = (policy: Awaited<ReturnType<typeof fastify.retentionService.policy>>) => ({ ...policy, defaults: { ...RETENTION_DEFAULT_DAYS }, minimums: { ...RETENTION_MINIMUM_DAYS } })

  fastify.get(
    '/retention/policy',
    {
      schema: { tags, security, summary: "The tenant's retention periods in days (the defaults until a policy is set), with the hub's defaults and minimums", response: { 200: RetentionPolicyViewSchema, ...Problems } },
      config: { auth: { roles: ['admin'] } },
    },
    async (request) => view(await fastify.retentionService.policy(request.principal.tenantId)),
  )

  fastify.put(
    '/retention/policy',
    {
      schema: {
        tags,
        security,
        summary: 'Set retention periods (the ones left out keep their value) as the next version; a period under the minimum is refused',
        body: RetentionPolicyBody,
        response: { 200: RetentionPolicyViewSchema, ...Problems, 409: ProblemSchema },
      },
      config: { auth: { roles: ['admin'] } },
    },
    async (request) => view(await fastify.retentionService.setPolicy(actorOf(request), request.body.periods, request.body.expectedVersion)),
  )

  fastify.get(
    '/retention/policy/versions',
    {
      schema: { tags, security, summary: "The policy's versions, newest first", querystring: RetentionPolicyVersionsQuery, response: { 200: RetentionPolicyVersionsSchema, ...Problems } },
      config: { auth: { roles: ['admin'] } },
    },
    async (request) => ({ data: await fastify.retentionService.versions(request.principal.tenantId, request.query.limit) }),
  )
}

export default retentionPolicyRoutes
