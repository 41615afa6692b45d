// Wires the venue layers together and hands the service to the routes.
import fp from 'fastify-plugin'
import { createAuditOutbox } from '@hub/service-kit'
import { createVenueRepository } from './venue-repository.ts'
import { createVenueService, type VenueService } from './venue-service.ts'

declare module 'fastify' {
  interface FastifyInstance {
    venueService: VenueService
  }
}

export default fp(
  async (fastify) => {
    fastify.decorate('venueService', createVenueService({ db: fastify.db, venues: createVenueRepository(), audit: createAuditOutbox('venue.audit_outbox') }))
  },
  { name: 'venues', dependencies: ['@hub/service-kit'] },
)
