// /internal/sync-logs — what compliance-service reads (HMAC-signed, `sync-logs:read`).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { INTERNAL_PERMISSIONS, ProblemSchema, SyncLogFeedQuery, SyncLogFeedSchema, VenueSyncLogPageSchema, VenueSyncLogsParams, VenueSyncLogsQuery } from '@hub/contracts'

const problems = { 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema }

const syncLogRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/sync-logs/venue/:venueId',
    {
      schema: { tags: ['internal'], hide: true, summary: "One venue's sync runs, oldest change first", params: VenueSyncLogsParams, querystring: VenueSyncLogsQuery, response: { 200: VenueSyncLogPageSchema, ...problems } },
      config: { internalAuth: { permission: INTERNAL_PERMISSIONS.syncLogsRead } },
    },
    async (request) => fastify.syncLogFeed.venue(request.params.venueId.toLowerCase(), request.query),
  )

  fastify.get(
    '/sync-logs',
    {
      schema: { tags: ['internal'], hide: true, summary: 'Change feed of sync runs across tenants', querystring: SyncLogFeedQuery, response: { 200: SyncLogFeedSchema, ...problems } },
      config: { internalAuth: { permission: INTERNAL_PERMISSIONS.syncLogsRead } },
    },
    async (request) => fastify.syncLogFeed.feed(request.query.cursor, request.query.limit),
  )
}

export default syncLogRoutes
