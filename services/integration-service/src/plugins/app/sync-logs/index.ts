// The sync-log repository, shared by the API (routes) and the worker (the engine writes the logs).
import fp from 'fastify-plugin'
import { createSyncLogRepository, type SyncLogRepository } from './sync-log-repository.ts'

declare module 'fastify' {
  interface FastifyInstance {
    syncLogs: SyncLogRepository
  }
}

export default fp(
  async (fastify) => {
    fastify.decorate('syncLogs', createSyncLogRepository())
  },
  { name: 'sync-logs', dependencies: ['@hub/service-kit'] },
)
