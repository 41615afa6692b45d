// Scheduled syncs follow each integration's `syncSchedule` setting: a connection is scheduled
// when it turns active, and its schedule changes (or stops) when the setting does.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { ProviderName } from '../../../providers/canonical.ts'

/** Until a tenant says otherwise, connections sync hourly. */
export const DEFAULT_SCHEDULE = 'hourly'
export const SCHEDULE_INTERVALS: Record<string, number> = { every_15_minutes: 15 * 60_000, hourly: 60 * 60_000, daily: 24 * 60 * 60_000 }

/** The interval (ms) a connection's settings ask for, or null when it is not to be scheduled. */
export async function scheduleIntervalFor(fastify: FastifyInstance, tenantId: string, venueId: string, provider: ProviderName): Promise<number | null> {
  const settings = fastify.hasDecorator('settingsService') ? ((await fastify.settingsService.effective(tenantId, venueId, provider)) as { syncSchedule?: string }) : {}
  return SCHEDULE_INTERVALS[settings.syncSchedule ?? DEFAULT_SCHEDULE] ?? null
}

async function applySchedule(fastify: FastifyInstance, tenantId: string, connection: { id: string; venue_id: string; provider: ProviderName }): Promise<void> {
  const every = await scheduleIntervalFor(fastify, tenantId, connection.venue_id, connection.provider)
  if (every === null) await fastify.syncEngine.unscheduleConnection(tenantId, connection.id)
  else await fastify.syncEngine.scheduleConnection(tenantId, connection.id, undefined, every)
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
