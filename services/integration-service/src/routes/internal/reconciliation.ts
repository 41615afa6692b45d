// GET /internal/reconciliation/venue/:venueId/status — the latest full reconciliation of each
// (connection, entity) of a venue, for compliance-service's venue report (`integrations:read`).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { INTERNAL_PERMISSIONS, ProblemSchema, UuidString, VenueReconciliationStatusSchema } from '@hub/contracts'

const Params = Type.Object({ venueId: UuidString }, { additionalProperties: false })
const Query = Type.Object({ tenantId: UuidString }, { additionalProperties: false })

const internalReconciliationRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { runs } = fastify.reconciliationInternals

  fastify.get(
    '/reconciliation/venue/:venueId/status',
    {
      schema: { tags: ['internal'], hide: true, params: Params, querystring: Query, response: { 200: VenueReconciliationStatusSchema, 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema } },
      config: { internalAuth: { permission: INTERNAL_PERMISSIONS.integrationsRead } },
    },
    async (request) => {
      const venueId = request.params.venueId.toLowerCase()
      // The caller names the tenant it checked the venue against; RLS holds the read to it.
      const rows = await fastify.db.withTenant(request.query.tenantId.toLowerCase(), (trx) => runs.latestForVenue(trx, venueId))
      return {
        venueId,
        entries: rows.map((row) => ({
          connectionId: row.connection_id,
          provider: row.provider,
          entity: row.entity,
          runId: row.id,
          status: row.status as 'clean' | 'drift' | 'failed',
          finishedAt: row.finished_at ? row.finished_at.toISOString() : null,
          lastCleanAt: row.last_clean_at ? new Date(row.last_clean_at).toISOString() : null,
          mismatches: row.missing_in_hub + row.missing_at_provider + row.changed + row.amount_mismatch,
          repaired: row.repaired,
        })),
      }
    },
  )
}

export default internalReconciliationRoutes
