// The sync-log feed compliance-service reads (`/internal/sync-logs`): API process only, so the
// worker does not load it.
import fp from 'fastify-plugin'
import { createSyncLogFeed, type SyncLogFeedService } from './sync-log-feed.ts'

declare module 'fastify' {
  interface FastifyInstance {
    syncLogFeed: SyncLogFeedService
  }
}

export default fp(
  async (fastify) => {
    fastify.decorate('syncLogFeed', createSyncLogFeed({ db: fastify.db, syncLogs: fastify.syncLogs }))
  },
  { name: 'sync-log-feed', dependencies: ['@hub/service-kit', 'sync-logs'] },
)
