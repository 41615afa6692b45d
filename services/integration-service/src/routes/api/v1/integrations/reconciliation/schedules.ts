// /api/v1/integrations/reconciliation/schedules/:connectionId — a connection's reconciliation
// schedule: the daily full run's hour in the venue's time zone, the hourly quick check, autoRepair.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Problems } from '../../../../../schemas/sync.ts'
import { ScheduleBody, ScheduleParams, ScheduleSchema } from '../../../../../schemas/reconciliation.ts'

const security = [{ bearerAuth: [] }]
const tags = ['reconciliation']
const writers = { auth: { roles: ['admin' as const, 'manager' as const] } }

const reconciliationScheduleRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const api = fastify.reconciliation

  fastify.get('/reconciliation/schedules/:connectionId', { schema: { tags, security, summary: "A connection's reconciliation schedule", params: ScheduleParams, response: { 200: ScheduleSchema, ...Problems } } }, async (request) =>
    api.getSchedule(request.caller, request.params.connectionId),
  )

  fastify.put(
    '/reconciliation/schedules/:connectionId',
    {
      schema: { tags, security, summary: "Set a connection's reconciliation schedule (fields left out keep their value)", params: ScheduleParams, body: ScheduleBody, response: { 200: ScheduleSchema, ...Problems } },
      config: writers,
    },
    async (request) => api.putSchedule(request.caller, request.params.connectionId, request.body),
  )
}

export default reconciliationScheduleRoutes
