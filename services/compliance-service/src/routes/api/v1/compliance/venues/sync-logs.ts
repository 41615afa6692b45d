// /api/v1/compliance/venues/:venueId/sync-logs — a venue's sync runs as auditors read them, tenant-isolated.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { CursorField, page, readCursor } from '@hub/service-kit'
import { Problems, SyncLogListQuery, SyncLogListSchema, VenueParams } from '../../../../../schemas/compliance.ts'
import { checkVenue, requireKnownVenue } from '../../../../../plugins/app/venue-scope.ts'

const CursorSchema = Type.Object({ at: CursorField.timestamp(), id: CursorField.uuid() })
const tags = ['compliance']
const security = [{ bearerAuth: [] }]

const venueSyncLogRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const stores = { syncLogs: fastify.syncLogStore, auditLog: fastify.auditLogStore }
  fastify.get(
    '/venues/:venueId/sync-logs',
    { schema: { tags, security, summary: "A venue's sync runs, newest first", params: VenueParams, querystring: SyncLogListQuery, response: { 200: SyncLogListSchema, ...Problems } } },
    async (request) => {
      const venueId = request.params.venueId.toLowerCase()
      checkVenue(request.principal, venueId)
      const { limit, cursor, ...filter } = request.query
      let before: { at: string; id: string } | undefined
      if (cursor) before = readCursor(cursor, CursorSchema)
      const { rows, nextCursor } = await page(
        limit,
        (take) =>
          fastify.db.withTenant(request.principal.tenantId, async (trx) => {
            await requireKnownVenue(trx, stores, venueId)
            return fastify.syncLogStore.page(trx, { venueId, ...filter }, take, before)
          }),
        (last) => ({ at: last.createdAt, id: last.id }),
      )
      return { data: rows, nextCursor }
    },
  )
}

export default venueSyncLogRoutes
