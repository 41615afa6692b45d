// What every part of the sync service shares: the connection a request names (404 otherwise), the
// entities it may sync, and the queue reached without waiting on Redis (a request answers
// QUEUE_UNAVAILABLE rather than hang while Bull's own client waits for Redis to return).
import type Bull from 'bull'
import { BadRequestError, NotFoundError, ServiceUnavailableError } from '@hub/contracts'
import type { EntityName } from '../../../providers/canonical.ts'
import type { ConnectionRow } from '../connections/connection-repository.ts'
import { QUEUES, QUEUE_KEYS, type JobData, type QueueKey } from './sync-queues.ts'
import type { SyncServiceDeps } from './sync-service.ts'

/** How long a request waits on Redis before it answers without it (Bull's own client would wait for Redis to return). */
const QUEUE_WAIT_MS = 500

export class QueueTimeout extends Error {}
export const isRedisDown = (error: unknown): boolean => /Connection is closed|ECONNREFUSED|Stream isn't writeable|MaxRetriesPerRequest|Command timed out/i.test((error as Error)?.message ?? '')

/** The promise, or a QueueTimeout after `ms`; the operation itself goes on (Bull adds are idempotent by job id). */
export function withinQueueWait<T>(operation: Promise<T>, ms = QUEUE_WAIT_MS): Promise<T> {
  operation.catch(() => undefined)
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QueueTimeout('the queue did not answer in time')), ms)
  })
  return Promise.race([operation, timeout]).finally(() => clearTimeout(timer))
}

export const queueUnavailable = () => new ServiceUnavailableError('QUEUE_UNAVAILABLE', 'The job queue is unavailable; retry shortly.')

export function queueKeyOf(name: string): QueueKey {
  const key = QUEUE_KEYS.find((candidate) => QUEUES[candidate] === name || candidate === name)
  if (!key) throw new NotFoundError('QUEUE_NOT_FOUND', `No queue named ${name}.`)
  return key
}

export function createQueueAccess(deps: Pick<SyncServiceDeps, 'db' | 'queues' | 'connections' | 'providers' | 'logger'>) {
  const { db, queues } = deps

  /** The venue a job works for: in its data, or (webhook jobs) its connection's. */
  async function venueOfJob(tenantId: string, data: JobData): Promise<string | null> {
    if (data.kind !== 'webhook') return data.venueId
    const connection = await db.withTenant(tenantId, (trx) => deps.connections.findById(trx, data.connectionId))
    return connection?.venue_id ?? null
  }

  async function loadConnection(tenantId: string, connectionId: string, venueId?: string): Promise<ConnectionRow> {
    const connection = await db.withTenant(tenantId, (trx) => deps.connections.findById(trx, connectionId))
    if (!connection || (venueId !== undefined && connection.venue_id !== venueId)) throw new NotFoundError('CONNECTION_NOT_FOUND', 'No connection with this id exists for this venue in your tenant.')
    return connection
  }

  function entitiesFor(connection: ConnectionRow, requested: EntityName[] | undefined): EntityName[] {
    const offered = deps.providers[connection.provider].adapter.entities
    const entities = requested && requested.length > 0 ? [...new Set(requested)] : [...offered]
    const unsupported = entities.filter((entity) => !offered.includes(entity))
    if (unsupported.length > 0) throw new BadRequestError('ENTITY_NOT_SUPPORTED', `${connection.provider} does not provide ${unsupported.join(', ')} records; it offers ${offered.join(', ')}.`)
    return entities
  }

  // Bull's clients wait for Redis to come back; a request does not: it asks only a connected one.
  const queueConnected = (): boolean => queues.queues.high.client.status === 'ready'

  async function findJob(jobId: string): Promise<Bull.Job<JobData> | null> {
    if (!queueConnected()) throw queueUnavailable()
    const lookup = async () => {
      for (const key of QUEUE_KEYS) {
        const job = await queues.queues[key].getJob(jobId)
        if (job) return job
      }
      return null
    }
    try {
      return await withinQueueWait(lookup())
    } catch (error) {
      deps.logger.warn({ err: { message: (error as Error).message }, jobId }, 'job lookup without the queue')
      throw queueUnavailable()
    }
  }

  return { venueOfJob, loadConnection, entitiesFor, queueConnected, findJob }
}

export type QueueAccess = ReturnType<typeof createQueueAccess>
