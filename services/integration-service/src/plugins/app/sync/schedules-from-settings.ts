// Scheduled syncs follow each integration's `syncSchedule` setting: a connection is scheduled
// when it turns active, and its schedule changes (or stops) when the setting does.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { ProviderName } from '../../../providers/canonical.ts'
import { CADENCES, spreadCron, type Cadence } from './schedule-spread.ts'

/** Until a tenant says otherwise, connections sync hourly. */
export const DEFAULT_SCHEDULE: Cadence = 'hourly'

export interface ScheduledConnection {
  id: string
  venue_id: string
  provider: ProviderName
}

/**
 * The cron a connection's settings ask for (at the connection's own second of the period, so that
 * connections do not all start together), or null when it is not to be scheduled.
 */
export async function scheduleCronFor(fastify: FastifyInstance, tenantId: string, connection: ScheduledConnection): Promise<string | null> {
  const settings = fastify.hasDecorator('settingsService') ? ((await fastify.settingsService.effective(tenantId, connection.venue_id, connection.provider)) as { syncSchedule?: string }) : {}
  const cadence = settings.syncSchedule ?? DEFAULT_SCHEDULE
  return Object.hasOwn(CADENCES, cadence) ? spreadCron(connection.id, cadence as Cadence) : null
}

async function applySchedule(fastify: FastifyInstance, tenantId: string, connection: ScheduledConnection): Promise<void> {
  const cron = await scheduleCronFor(fastify, tenantId, connection)
  if (cron === null) await fastify.syncEngine.unscheduleConnection(tenantId, connection.id)
  else await fastify.syncEngine.scheduleConnection(tenantId, connection.id, undefined, cron)
}

export default fp(
  async (fastify) => {
    fastify.connectionConnectHooks.push(async (tenantId, connectionId) => {
      const connection = await fastify.db.withTenant(tenantId, (trx) => fastify.connections.findById(trx, connectionId))
      if (connection) await applySchedule(fastify, tenantId, connection)
    })
    fastify.settingsService.onChange(async (event) => {
      if (!event.changedKeys.includes('syncSchedule') && event.action === 'updated') return
      const affected = await fastify.db.withTenant(event.tenantId, (trx) => fastify.connections.listActiveOfProvider(trx, event.type, event.venueId ?? undefined))
      for (const connection of affected) await applySchedule(fastify, event.tenantId, connection)
    })
  },
  { name: 'sync-schedules', dependencies: ['connections', 'sync-engine', 'integration-settings'] },
)
