// Scheduled syncs of a connection: repeatable jobs on the normal queue, one per entity, by interval
// or cron. Which connections get which schedule follows their settings (schedules-from-settings.ts).
import { BadRequestError } from '@hub/contracts'
import type { EntityName } from '../../../providers/canonical.ts'
import { ConnectionNotActiveError } from '../connections/connection-context.ts'
import type { QueueAccess } from './queue-access.ts'
import type { SyncJobData } from './sync-queues.ts'
import type { Schedule, SyncServiceDeps } from './sync-service.ts'

const iso = (millis: number | null | undefined): string | null => (millis ? new Date(millis).toISOString() : null)
const scheduleJobId = (connectionId: string, entity: string) => `schedule-${connectionId}-${entity}`

export function createSyncSchedules(deps: Pick<SyncServiceDeps, 'queues'>, access: Pick<QueueAccess, 'loadConnection' | 'entitiesFor'>) {
  const { queues } = deps
  const { loadConnection, entitiesFor } = access

  async function unscheduleConnection(tenantId: string, connectionId: string, entities?: EntityName[]): Promise<number> {
    await loadConnection(tenantId, connectionId)
    const queue = queues.queues.normal
    const ids = entities ? new Set(entities.map((entity) => scheduleJobId(connectionId, entity))) : null
    let removed = 0
    for (const repeatable of await queue.getRepeatableJobs()) {
      const id = repeatable.id ?? ''
      if (ids ? !ids.has(id) : !id.startsWith(`schedule-${connectionId}-`)) continue
      await queue.removeRepeatableByKey(repeatable.key)
      removed++
    }
    return removed
  }

  async function listSchedules(tenantId: string, connectionId: string): Promise<Schedule[]> {
    await loadConnection(tenantId, connectionId)
    const prefix = `schedule-${connectionId}-`
    return (await queues.queues.normal.getRepeatableJobs())
      .filter((repeatable) => (repeatable.id ?? '').startsWith(prefix))
      .map((repeatable) => ({
        connectionId,
        entity: (repeatable.id ?? '').slice(prefix.length) as EntityName,
        every: repeatable.every || null,
        cron: repeatable.cron || null,
        next: iso(repeatable.next),
      }))
  }

  return {
    /**
     * Schedules incremental syncs of the connection on the normal queue: `every` is an interval
     * in milliseconds (at least 1 s) or a cron expression read in UTC. Replaces the entities'
     * previous schedule.
     */
    async scheduleConnection(tenantId: string, connectionId: string, entities: EntityName[] | undefined, every: number | string): Promise<Schedule[]> {
      const connection = await loadConnection(tenantId, connectionId)
      if (connection.status === 'disconnected') throw new ConnectionNotActiveError(connection.status)
      const chosen = entitiesFor(connection, entities)
      if (typeof every === 'number' && (!Number.isInteger(every) || every < 1_000)) throw new BadRequestError('INVALID_SCHEDULE', 'An interval schedule is a whole number of milliseconds, at least 1000.')
      if (typeof every === 'string' && !/^\s*(\S+\s+){4,5}\S+\s*$/.test(every)) throw new BadRequestError('INVALID_SCHEDULE', 'A cron schedule has five or six fields.')
      await unscheduleConnection(tenantId, connectionId, chosen)
      for (const entity of chosen) {
        const data: SyncJobData = { kind: 'sync', tenantId, venueId: connection.venue_id, connectionId, provider: connection.provider, entity, mode: 'incremental', trigger: 'scheduled', syncLogId: '' }
        try {
          await queues.queues.normal.add('sync', data, { jobId: scheduleJobId(connectionId, entity), repeat: typeof every === 'number' ? { every } : { cron: every.trim(), tz: 'UTC' } })
        } catch (error) {
          if (typeof every === 'string') throw new BadRequestError('INVALID_SCHEDULE', `The cron expression does not parse: ${(error as Error).message}`)
          throw error
        }
      }
      return listSchedules(tenantId, connectionId)
    },

    /** Removes the connection's schedules (of the given entities, or all); returns how many. */
    unscheduleConnection,

    listSchedules,
  }
}
