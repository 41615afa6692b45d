// /api/v1/compliance/sync-logs/pull — operators pull integration-service's sync-log feed now.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ForbiddenError } from '@hub/contracts'
import { Problems } from '../../../../schemas/compliance.ts'

const tags = ['compliance']
const security = [{ bearerAuth: [] }]

const syncLogPullRoutes: FastifyPluginAsyncTypebox<{ operatorTenantIds: string[] }> = async (fastify, opts) => {
  fastify.post(
    '/sync-logs/pull',
    {
      // The feed spans every tenant: only the operators (OPERATOR_TENANT_IDS; nobody when empty,
      // as for tenantless security events) may drive it, and the answer says that the pull ran,
      // not how many runs of other tenants it stored. integration-service unreachable, timing out
      // or failing is a 503 DEPENDENCY_UNAVAILABLE (the error handler's, as for the database).
      schema: { tags, security, summary: 'Pull the sync-log feed now (operator admins)', response: { 204: Type.Null(), ...Problems, 503: Problems[400] } },
      config: { auth: { roles: ['admin'] } },
    },
    async (request, reply) => {
      if (!opts.operatorTenantIds.includes(request.principal.tenantId)) {
        throw new ForbiddenError('OPERATOR_ONLY', 'The sync-log pull is for the platform operators.')
      }
      await fastify.syncLogConsumer.pullOnce()
      return reply.code(204).send(null)
    },
  )
}

export default syncLogPullRoutes
