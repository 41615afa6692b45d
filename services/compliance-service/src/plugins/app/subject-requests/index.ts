// Data-subject requests, compliance-service's side: `fastify.subjectRequests` (create, read,
// export, run) and `fastify.subjectRequestJob` (the runner, started when SUBJECT_REQUEST_POLL_MS > 0).
import fp from 'fastify-plugin'
import { integrationClient } from '@hub/contracts'
import { createSubjectOwnData } from './subject-own-data.ts'
import { createSubjectRequestJob, type SubjectRequestJob } from './subject-request-job.ts'
import { createSubjectRequestRepository } from './subject-request-repository.ts'
import { createSubjectRequestService, type SubjectRequestService } from './subject-request-service.ts'

declare module 'fastify' {
  interface FastifyInstance {
    subjectRequests: SubjectRequestService
    subjectRequestJob: SubjectRequestJob
  }
}

export default fp(
  async (fastify, opts: { integrationUrl: string; pollMs: number; leaseMs: number; maxAttempts: number }) => {
    const service = createSubjectRequestService({
      db: fastify.db,
      repository: createSubjectRequestRepository(),
      ownData: createSubjectOwnData(),
      audit: fastify.auditLogStore,
      integration: integrationClient(fastify.internalClient(opts.integrationUrl)),
      leaseMs: opts.leaseMs,
    })
    fastify.decorate('subjectRequests', service)
    // A failed attempt waits a tenth of a lease (at least a second) before it is tried again.
    const job = createSubjectRequestJob({ service, logger: fastify.log.child({ component: 'subject-requests' }), pollMs: opts.pollMs, maxAttempts: opts.maxAttempts, retryMs: Math.max(1000, Math.floor(opts.leaseMs / 10)) })
    fastify.decorate('subjectRequestJob', job)
    if (opts.pollMs > 0) fastify.addHook('onReady', async () => job.start())
    fastify.addHook('onClose', async () => job.stop())
  },
  { name: 'subject-requests', dependencies: ['@hub/service-kit', 'compliance'] },
)
