// POST /internal/sync/trigger — another service asks for a sync (`sync:trigger`).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { INTERNAL_PERMISSIONS, NotFoundError, ProblemSchema, SyncTriggerBodySchema, SyncTriggerResultSchema } from '@hub/contracts'

const syncTriggerRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post(
    '/sync/trigger',
    {
      schema: { tags: ['internal'], hide: true, body: SyncTriggerBodySchema, response: { 202: SyncTriggerResultSchema, 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema, 409: ProblemSchema } },
      config: { internalAuth: { permission: INTERNAL_PERMISSIONS.syncTrigger } },
    },
    async (request, reply) => {
      const { tenantId, venueId, provider, entities, mode } = request.body
      const tenant = tenantId.toLowerCase()
      const connection = await fastify.db.withTenant(tenant, (trx) => fastify.connections.findLive(trx, venueId.toLowerCase(), provider))
      if (!connection) throw new NotFoundError('CONNECTION_NOT_FOUND', `This venue has no ${provider} connection.`)
      const caller = request.internalCaller?.service ?? 'unknown'
      const { jobs } = await fastify.syncEngine.enqueueSync({
        tenantId: tenant,
        venueId: connection.venue_id,
        connectionId: connection.id,
        ...(entities ? { entities } : {}),
        mode: mode ?? 'incremental',
        trigger: 'batch',
        queue: 'normal',
        actor: { tenantId: tenant, actorType: 'service', actorId: caller, requestId: String(request.id), ip: request.ip },
      })
      return reply.code(202).send({ jobs: jobs.map((job) => ({ jobId: job.jobId, syncLogId: job.syncLogId, entity: job.entity, connectionId: connection.id })) })
    },
  )
}

export default syncTriggerRoutes
