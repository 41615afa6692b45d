// venue-service as one Fastify plugin: what server.ts listens with and what tests register.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { INTERNAL_PERMISSIONS } from '@hub/contracts'
import { internalPermissions, jwtOptions, serviceKit } from '@hub/service-kit'
import type { VenueServiceConfig } from './config.ts'
import { VENUE_SCHEMA, VENUE_TABLES } from './db/schema.ts'
import venues from './plugins/app/venues.ts'
import venueRoutes from './routes/api/v1/venues/index.ts'
import memberRoutes from './routes/api/v1/venues/members.ts'
import internalVenueRoutes from './routes/internal/venues.ts'

export const SERVICE_NAME = 'venue-service'

async function venueService(fastify: FastifyInstance, opts: { config: VenueServiceConfig }): Promise<void> {
  const { config } = opts
  await fastify.register(serviceKit, {
    service: SERVICE_NAME,
    maxEventLoopDelayMs: config.MAX_EVENT_LOOP_DELAY_MS,
    metrics: { port: config.METRICS_PORT, host: config.METRICS_HOST ?? config.HOST },
    description: 'Venues and who may manage them, isolated per tenant.',
    databaseUrl: config.DATABASE_URL,
    databasePoolMax: config.DATABASE_POOL_MAX,
    databaseSchema: VENUE_SCHEMA,
    redisUrl: config.REDIS_URL,
    redisPrefix: config.REDIS_KEY_PREFIX,
    jwt: jwtOptions(config),
    auditRelay: { table: VENUE_TABLES.auditOutbox, intervalMs: config.AUDIT_RELAY_INTERVAL_MS },
    securityEventBuffer: { table: VENUE_TABLES.securityEventOutbox },
    securityEventWindowMs: config.SECURITY_EVENT_WINDOW_MS,
    securityRelayIntervalMs: config.SECURITY_RELAY_INTERVAL_MS,
    internal: {
      service: SERVICE_NAME,
      keysJson: config.INTERNAL_AUTH_KEYS,
      permissions: internalPermissions(config.INTERNAL_PERMISSIONS, { 'integration-service': [INTERNAL_PERMISSIONS.venuesRead] }),
      complianceUrl: config.COMPLIANCE_SERVICE_URL,
    },
  })
  await fastify.register(venues, { integrationUrl: config.INTEGRATION_SERVICE_URL })
  // Routes are registered explicitly: the URL → file map stays greppable.
  await fastify.register(venueRoutes, { prefix: '/api/v1/venues' })
  await fastify.register(memberRoutes, { prefix: '/api/v1/venues' })
  await fastify.register(internalVenueRoutes, { prefix: '/internal' })
}

// Not encapsulated: the service's decorators belong to the instance that runs it (and tests read them).
export default fp(venueService, { name: 'venue-service', fastify: '5.x' })
