// /api/v1/integrations/sync/jobs — following a sync job, and cancelling it.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { auditActor } from '@hub/service-kit'
import { assertVenueAccess } from '../../../../../plugins/app/connections/venue-access.ts'
import { JobNotFoundError } from '../../../../../plugins/app/sync/sync-errors.ts'
import { CancelSchema, JobParams, JobSchema, Problems } from '../../../../../schemas/sync.ts'

const security = [{ bearerAuth: [] }]
const writers = { auth: { roles: ['admin' as const, 'manager' as const] } }

const syncJobRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/sync/jobs/:id', { schema: { tags: ['sync'], security, summary: 'State and progress of a sync job', params: JobParams, response: { 200: JobSchema, ...Problems } } }, async (request) => {
    const job = await fastify.syncEngine.getJob(request.principal.tenantId, request.params.id, (venueId) => assertVenueAccess(request.principal, venueId, 'read', () => new JobNotFoundError()))
    return { ...job, data: { ...job.data } }
  })

  fastify.post(
    '/sync/jobs/:id/cancel',
    { schema: { tags: ['sync'], security, summary: 'Cancel a waiting or running job (it stops cleanly at its next checkpoint)', params: JobParams, response: { 200: CancelSchema, ...Problems } }, config: writers },
    async (request) => fastify.syncEngine.cancelJob(request.principal.tenantId, request.params.id, auditActor(request.caller), (venueId) => assertVenueAccess(request.principal, venueId, 'manage', () => new JobNotFoundError())),
  )
}

export default syncJobRoutes
