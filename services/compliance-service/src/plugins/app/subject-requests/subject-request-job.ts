// The runner of data-subject requests: a Postgres-backed job loop rather than Bull (compliance-
// service has no queue, and Postgres already is the truth): every tick it claims open requests
// one at a time under a lease until none is left. Any number of replicas may run it (the claim
// skips rows another holds); a runner that dies loses its lease and the request is claimed again.
import type { FastifyBaseLogger } from 'fastify'
import type { SubjectRequestService } from './subject-request-service.ts'

export function createSubjectRequestJob(deps: { service: Pick<SubjectRequestService, 'runNext'>; logger: FastifyBaseLogger; pollMs: number; maxAttempts: number; retryMs: number }) {
  let timer: NodeJS.Timeout | null = null
  let running: Promise<number> | null = null

  /** Runs open requests until none is claimable; returns how many were attempted. */
  async function drain(): Promise<number> {
    let attempted = 0
    while (
      await deps.service.runNext({
        maxAttempts: deps.maxAttempts,
        retryMs: deps.retryMs,
        // The error's code and message only: the request's identifiers never reach a log.
        onError: (error, row) => deps.logger.warn({ requestId: row.id, attempt: row.attempts, code: (error as { code?: unknown }).code, err: { message: (error as Error).message } }, 'subject request attempt failed'),
      })
    )
      attempted++
    return attempted
  }

  const tick = (): void => {
    if (running) return
    running = drain()
      .catch((error: unknown) => {
        deps.logger.warn({ err: { message: (error as Error).message } }, 'subject request runner pass failed')
        return 0
      })
      .finally(() => {
        running = null
      })
  }

  return {
    drain,
    start(): void {
      if (timer) return
      timer = setInterval(tick, deps.pollMs)
      timer.unref()
      tick()
    },
    async stop(): Promise<void> {
      if (timer) clearInterval(timer)
      timer = null
      await running
    },
  }
}

export type SubjectRequestJob = ReturnType<typeof createSubjectRequestJob>
