// /api/v1/integrations/records — synced records changed since a cursor.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Problems, RecordListQuery, RecordPageSchema } from '../../../../schemas/sync.ts'

const security = [{ bearerAuth: [] }]

const recordRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const api = fastify.syncApi

  fastify.get('/records', { schema: { tags: ['records'], security, summary: 'Synced records changed since a cursor, deletions included', querystring: RecordListQuery, response: { 200: RecordPageSchema, ...Problems } } }, async (request) =>
    api.listRecords(request.caller, request.query),
  )
}

export default recordRoutes
