import fp from 'fastify-plugin'
import { createSyncApiService, type SyncApiService } from './sync-api-service.ts'

declare module 'fastify' {
  interface FastifyInstance {
    syncApi: SyncApiService
  }
}

export default fp(
  async (fastify) => {
    fastify.decorate('syncApi', createSyncApiService({ db: fastify.db, connections: fastify.connections, engine: fastify.syncEngine, audit: fastify.auditOutbox }))
  },
  { name: 'sync-api', dependencies: ['sync-engine', 'connections'] },
)
