// /api/v1/integrations/sync-logs — sync runs of the tenant, newest first.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Problems, SyncLogListQuery, SyncLogPageSchema } from '../../../../schemas/sync.ts'

const security = [{ bearerAuth: [] }]

const syncLogRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const api = fastify.syncApi

  fastify.get('/sync-logs', { schema: { tags: ['sync'], security, summary: 'Sync runs, newest first', querystring: SyncLogListQuery, response: { 200: SyncLogPageSchema, ...Problems } } }, async (request) =>
    api.listSyncLogs(request.caller, request.query),
  )
}

export default syncLogRoutes
