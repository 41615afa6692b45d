// What the API process does with the sync engine, one role per file: opening runs
// (run-enqueue.ts), jobs (job-views.ts), schedules (sync-schedules.ts), operations on queues, dead
// letters and breakers (sync-operations.ts), over the shared queue access (queue-access.ts). It only
// ever enqueues; processors run in the worker process.
import type { FastifyBaseLogger } from 'fastify'
import type { AuditActor, AuditOutbox, Database } from '@hub/service-kit'
import type { EntityName } from '../../../providers/canonical.ts'
import type { ProviderRegistry } from '../../../providers/registry.ts'
import type { WebhookInboxRepository } from '../webhooks/webhook-inbox-repository.ts'
import type { ConnectionRepository } from '../connections/connection-repository.ts'
import type { SyncLogRepository, SyncRunRepository } from '../sync-logs/sync-log-repository.ts'
import type { CircuitBreakers } from './circuit-breaker.ts'
import type { DeadLetterRepository } from './dead-letter-repository.ts'
import type { JobControl } from './job-control.ts'
import { createJobViews } from './job-views.ts'
import { createQueueAccess } from './queue-access.ts'
import { createRunEnqueue } from './run-enqueue.ts'
import { createSyncOperations } from './sync-operations.ts'
import type { JobData, PushJobData, QueueKey, QueueName, SyncJobData, SyncQueues } from './sync-queues.ts'
import { createSyncSchedules } from './sync-schedules.ts'

/** Who asked, for the audit trail (what `auditActor(request.caller)` returns). */
export type { AuditActor }

export interface EnqueueSyncInput {
  tenantId: string
  venueId: string
  connectionId: string
  /** Default: every entity the provider offers. */
  entities?: EntityName[]
  mode: SyncJobData['mode']
  trigger: SyncJobData['trigger']
  /** Which queue: `high` for a user's request, `normal` for schedules, `low` for batch work. */
  queue: QueueKey
  actor?: AuditActor
}

export interface EnqueuedRun {
  entity: EntityName
  jobId: string
  syncLogId: string
  queue: QueueName
}

export interface EnqueuePushInput {
  tenantId: string
  venueId: string
  /** The destination connection (Mailchimp or QuickBooks). */
  connectionId: string
  operation: PushJobData['operation']
  trigger?: SyncJobData['trigger']
  actor?: AuditActor
}

export type JobState = 'waiting' | 'active' | 'delayed' | 'completed' | 'failed' | 'paused' | 'stuck'

export interface JobView {
  id: string
  queue: QueueName
  name: string
  state: JobState
  /** Counts so far ({fetched, created, updated, unchanged, deleted, failed, pages, percent}). */
  progress: unknown
  /** Ids only. */
  data: JobData
  syncLogId: string | null
  attemptsMade: number
  failedReason: string | null
  /** What the run returned ({status, counts...}) once completed. */
  result: unknown
  createdAt: string | null
  processedAt: string | null
  finishedAt: string | null
}

export interface QueueCounts {
  queue: QueueName
  key: QueueKey
  paused: boolean
  waiting: number
  active: number
  delayed: number
  completed: number
  failed: number
}

export interface Schedule {
  connectionId: string
  entity: EntityName
  /** Interval in ms, or null for a cron schedule. */
  every: number | null
  cron: string | null
  next: string | null
}

/** Throws when the caller may not act on this venue's objects (see venue-access.ts). */
export type VenueCheck = (venueId: string) => void

export interface SyncServiceDeps {
  db: Pick<Database, 'withTenant'>
  queues: SyncQueues
  inbox: Pick<WebhookInboxRepository, 'markAnnounced' | 'markEnqueued' | 'markEnqueuedMany'>
  connections: Pick<ConnectionRepository, 'findById' | 'venuesOf'>
  providers: ProviderRegistry
  runs: SyncRunRepository
  syncLogs: Pick<SyncLogRepository, 'update'>
  deadLetters: DeadLetterRepository
  control: Pick<JobControl, 'requestCancel'>
  breakers: CircuitBreakers
  audit: AuditOutbox
  logger: FastifyBaseLogger
}

export function createSyncService(deps: SyncServiceDeps) {
  const access = createQueueAccess(deps)
  const operations = createSyncOperations(deps)
  const { adminAudit: _adminAudit, ...operatorActions } = operations
  return {
    /** Bull queue objects (for bull-board and operators). */
    queues: deps.queues.queues,
    ...createRunEnqueue(deps, access),
    ...createJobViews(deps, access, operations),
    ...operatorActions,
    ...createSyncSchedules(deps, access),
  }
}

export type SyncService = ReturnType<typeof createSyncService>
