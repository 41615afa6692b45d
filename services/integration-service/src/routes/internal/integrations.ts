// GET /internal/integrations/venue/:venueId/status — each connection of a venue, its status and
// its last sync, for other services (`integrations:read`).
// POST /internal/integrations/venue/:venueId/disconnect — venue-service deleting a venue
// (`connections:disconnect`): every live connection of it is disconnected.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { INTERNAL_PERMISSIONS, IntegrationStatusSchema, ProblemSchema, UuidString, VenueDisconnectBodySchema, VenueDisconnectResultSchema, type IntegrationStatus } from '@hub/contracts'
import type { ConnectionStatusRow } from '../../plugins/app/connections/connection-repository.ts'

const Params = Type.Object({ venueId: UuidString }, { additionalProperties: false })

type ConnectionStatus = IntegrationStatus['connections'][number]

const iso = (value: string | null) => (value ? new Date(value).toISOString() : null)

function toStatus(row: ConnectionStatusRow): ConnectionStatus {
  return {
    connectionId: row.id,
    provider: row.provider,
    status: row.status,
    lastSync: row.last_sync ? { syncLogId: row.last_sync.id, entity: row.last_sync.entity, status: row.last_sync.status, startedAt: iso(row.last_sync.started_at), finishedAt: iso(row.last_sync.finished_at) } : null,
    lastSuccessAt: row.last_success_at ? row.last_success_at.toISOString() : null,
  }
}

const internalIntegrationRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/integrations/venue/:venueId/status',
    {
      schema: { tags: ['internal'], hide: true, params: Params, response: { 200: IntegrationStatusSchema, 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema } },
      config: { internalAuth: { permission: INTERNAL_PERMISSIONS.integrationsRead } },
    },
    async (request) => {
      const venueId = request.params.venueId.toLowerCase()
      // The caller is a service: the venue's tenant comes from the connections themselves.
      const rows = await fastify.db.withSystemScope((trx) => fastify.connections.venueStatus(trx, venueId))
      return { venueId, connections: rows.map(toStatus) }
    },
  )

  fastify.post(
    '/integrations/venue/:venueId/disconnect',
    {
      schema: { tags: ['internal'], hide: true, params: Params, body: VenueDisconnectBodySchema, response: { 200: VenueDisconnectResultSchema, 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema } },
      config: { internalAuth: { permission: INTERNAL_PERMISSIONS.connectionsDisconnect } },
    },
    async (request) => {
      const venueId = request.params.venueId.toLowerCase()
      const caller = { service: request.internalCaller?.service ?? 'unknown', requestId: String(request.id), ip: request.ip }
      const disconnected = await fastify.connectionService.disconnectVenue(caller, request.body.tenantId.toLowerCase(), venueId)
      return { venueId, disconnected }
    },
  )
}

export default internalIntegrationRoutes
