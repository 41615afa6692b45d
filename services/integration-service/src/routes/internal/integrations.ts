// GET /internal/integrations/venue/:venueId/status — each connection of a venue, its status and
// its last sync, for other services (`integrations:read`).
// POST /internal/integrations/venue/:venueId/disconnect — venue-service deleting a venue
// (`connections:disconnect`): every live connection of it is disconnected.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { INTERNAL_PERMISSIONS, IntegrationStatusSchema, ProblemSchema, UuidString, VenueDisconnectBodySchema, VenueDisconnectResultSchema, type IntegrationStatus, type SyncLog } from '@hub/contracts'

const Params = Type.Object({ venueId: UuidString }, { additionalProperties: false })

type ConnectionStatus = IntegrationStatus['connections'][number]

interface StatusRow {
  id: string
  provider: ConnectionStatus['provider']
  status: ConnectionStatus['status']
  last_sync: { id: string; entity: SyncLog['entity']; status: SyncLog['status']; started_at: string | null; finished_at: string | null } | null
  last_success_at: Date | null
}

const iso = (value: string | null) => (value ? new Date(value).toISOString() : null)

function toStatus(row: StatusRow): ConnectionStatus {
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
      const rows = await fastify.db.withSystemScope((trx) =>
        trx('integration.connections as c')
          .select(
            'c.id',
            'c.provider',
            'c.status',
            trx.raw(`(select row_to_json(l) from (select id, entity, status, started_at, finished_at from integration.sync_logs s where s.connection_id = c.id order by s.created_at desc limit 1) l) as last_sync`),
            trx.raw(`(select max(finished_at) from integration.sync_logs s where s.connection_id = c.id and s.status = 'succeeded') as last_success_at`),
          )
          .where('c.venue_id', venueId)
          .orderBy('c.created_at'),
      )
      return { venueId, connections: (rows as StatusRow[]).map(toStatus) }
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
