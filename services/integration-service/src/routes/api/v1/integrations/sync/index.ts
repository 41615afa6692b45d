// /api/v1/integrations/sync/:provider/sync — asking for a sync of a venue's connection now.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ProviderParams } from '../../../../../schemas/connection.ts'
import { EnqueuedSchema, Problems, SyncRequestBody } from '../../../../../schemas/sync.ts'

const security = [{ bearerAuth: [] }]
const writers = { auth: { roles: ['admin' as const, 'manager' as const] } }

const syncRequestRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const api = fastify.syncApi

  fastify.post(
    '/sync/:provider/sync',
    {
      schema: { tags: ['sync'], security, summary: "Sync a venue's connection now (one job per entity, on integration-high)", params: ProviderParams, body: SyncRequestBody, response: { 202: EnqueuedSchema, ...Problems } },
      config: writers,
    },
    async (request, reply) => reply.code(202).send(await api.requestSync(request.caller, request.params.provider, request.body)),
  )
}

export default syncRequestRoutes
