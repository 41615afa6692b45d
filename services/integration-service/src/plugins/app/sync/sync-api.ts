// Wires the public sync API (sync requests, the tenant's sync logs, records and field mappings)
// on top of the sync engine.
import fp from 'fastify-plugin'
import { createFieldMappingRepository } from './field-mapping-repository.ts'
import { createRecordRepository } from './record-repository.ts'
import { createSyncApiService, type SyncApiService } from './sync-api-service.ts'

declare module 'fastify' {
  interface FastifyInstance {
    syncApi: SyncApiService
  }
}

export default fp(
  async (fastify) => {
    fastify.decorate(
      'syncApi',
      createSyncApiService({
        db: fastify.db,
        connections: fastify.connections,
        syncLogs: fastify.syncLogs,
        records: createRecordRepository(),
        fieldMappings: createFieldMappingRepository(),
        engine: fastify.syncEngine,
        audit: fastify.auditOutbox,
      }),
    )
  },
  { name: 'sync-api', dependencies: ['sync-engine', 'connections', 'sync-logs'] },
)
