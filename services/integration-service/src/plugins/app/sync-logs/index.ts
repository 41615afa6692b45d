// Wires the sync-log layers together and hands them to the routes and the sync engine.
import fp from 'fastify-plugin'
import { createSyncLogRepository, type SyncLogRepository } from './sync-log-repository.ts'
import { createSyncLogFeed, type SyncLogFeedService } from './sync-log-feed.ts'

declare module 'fastify' {
  interface FastifyInstance {
    syncLogs: SyncLogRepository
    syncLogFeed: SyncLogFeedService
  }
}

export default fp(
  async (fastify) => {
    const syncLogs = createSyncLogRepository()
    fastify.decorate('syncLogs', syncLogs)
    fastify.decorate('syncLogFeed', createSyncLogFeed({ db: fastify.db, syncLogs }))
  },
  { name: 'sync-logs', dependencies: ['@hub/service-kit'] },
)
