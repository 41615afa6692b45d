// GET /internal/venues/:id?tenantId= — other services ask whether a venue exists in a tenant.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { INTERNAL_PERMISSIONS, InternalVenueParams, InternalVenueQuery, InternalVenueSchema, ProblemSchema } from '@hub/contracts'
import { VenueNotFoundError } from '../../plugins/app/venue-errors.ts'

const internalVenueRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/venues/:id',
    {
      schema: { tags: ['internal'], hide: true, params: InternalVenueParams, querystring: InternalVenueQuery, response: { 200: InternalVenueSchema, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema } },
      config: { internalAuth: { permission: INTERNAL_PERMISSIONS.venuesRead } },
    },
    async (request) => {
      const venue = await fastify.venueService.getForService(request.query.tenantId.toLowerCase(), request.params.id)
      if (!venue) throw new VenueNotFoundError()
      return { id: venue.id, tenantId: venue.tenantId, name: venue.name, slug: venue.slug, status: venue.status, timezone: venue.timezone, currency: venue.currency }
    },
  )
}

export default internalVenueRoutes
