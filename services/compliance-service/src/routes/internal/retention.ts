// POST /internal/retention/plan — what a clean-up job of another service must respect: each
// tenant's periods and active holds (signed, `retention:read`).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { INTERNAL_PERMISSIONS, ProblemSchema, RetentionPlanBody, RetentionPlanSchema } from '@hub/contracts'

const retentionPlanRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post(
    '/retention/plan',
    {
      schema: { tags: ['internal'], hide: true, summary: "Tenants' retention periods and active legal holds", body: RetentionPlanBody, response: { 200: RetentionPlanSchema, 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema } },
      config: { internalAuth: { permission: INTERNAL_PERMISSIONS.retentionRead } },
    },
    async (request) => ({ data: await fastify.retentionService.plans(request.body.tenantIds.map((id) => id.toLowerCase())), generatedAt: new Date().toISOString() }),
  )
}

export default retentionPlanRoutes
