// Wires the venue layers together and hands the service to the routes.
import fp from 'fastify-plugin'
import { integrationClient } from '@hub/contracts'
import { createAuditOutbox } from '@hub/service-kit'
import { VENUE_TABLES } from '../../db/schema.ts'
import { createVenueRepository } from './venue-repository.ts'
import { createVenueService, type VenueService } from './venue-service.ts'

declare module 'fastify' {
  interface FastifyInstance {
    venueService: VenueService
  }
}

export default fp(
  async (fastify, opts: { integrationUrl?: string | undefined }) => {
    const integrations = opts.integrationUrl ? integrationClient(fastify.internalClient(opts.integrationUrl)) : null
    if (!integrations) fastify.log.warn('INTEGRATION_SERVICE_URL is not set: deleting a venue will not disconnect its provider connections')
    fastify.decorate('venueService', createVenueService({ db: fastify.db, venues: createVenueRepository(), audit: createAuditOutbox(VENUE_TABLES.auditOutbox), integrations, logger: fastify.log }))
  },
  { name: 'venues', dependencies: ['@hub/service-kit'] },
)
