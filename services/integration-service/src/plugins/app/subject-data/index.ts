// Data-subject requests, integration-service's side: `fastify.subjectData` (search and erase, for
// the internal routes compliance-service calls) and `fastify.subjectGuard` (the tombstone check the
// sync engine and the webhook intake apply before they store provider data). Both processes
// register it: the worker's syncs need the guard as much as the API's webhook intake does.
import fp from 'fastify-plugin'
import { KeyRing } from '@hub/crypto'
import type { IntegrationServiceConfig } from '../../../config.ts'
import { createSubjectDataRepository } from './subject-data-repository.ts'
import { createSubjectDataService, type SubjectDataService } from './subject-data-service.ts'
import { createSubjectGuard, type SubjectGuard } from './subject-guard.ts'

declare module 'fastify' {
  interface FastifyInstance {
    subjectData: SubjectDataService
    subjectGuard: SubjectGuard
  }
}

export default fp(
  async (fastify, opts: { config: Pick<IntegrationServiceConfig, 'ENCRYPTION_KEYS'> }) => {
    const ring = KeyRing.fromEnv(opts.config.ENCRYPTION_KEYS)
    const repository = createSubjectDataRepository()
    fastify.decorate('subjectGuard', createSubjectGuard({ ring, repository }))
    fastify.decorate('subjectData', createSubjectDataService({ db: fastify.db, ring, repository }))
  },
  { name: 'subject-data', dependencies: ['@hub/service-kit'] },
)
