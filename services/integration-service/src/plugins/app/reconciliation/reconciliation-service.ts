// The reconciliation API's rules: which connection a request means, who may read and act on it,
// opening runs and queueing them, reading runs and their items page by page, repairs and schedules.
import { Type } from '@sinclair/typebox'
import { auditActor, canReadVenue, CursorField, hasRole, isTimezone, page, readCursor, type AuditOutbox, type Database, type RequestContext } from '@hub/service-kit'
import type { VenueClient } from '@hub/contracts'
import type { EntityName } from '../../../providers/canonical.ts'
import type { ProviderRegistry } from '../../../providers/registry.ts'
import type { ConnectionRepository } from '../connections/connection-repository.ts'
import { assertVenueAccess } from '../connections/venue-access.ts'
import { toSyncFailure } from '../sync/sync-errors.ts'
import type { RunRequest, RunList, RunItems, RunView, ScheduleUpdate, ScheduleView } from '../../../schemas/reconciliation.ts'
import { runSummary, type ReconciliationEngine, type RepairResult } from './reconciliation-engine.ts'
import {
  InvalidPeriodError,
  InvalidTimezoneError,
  ReconciliationAlreadyRunningError,
  ReconciliationBusyError,
  ReconciliationConnectionNotFoundError,
  ReconciliationEntityNotSupportedError,
  ReconciliationQueueUnavailableError,
  ReconciliationRunNotFoundError,
  RunNotRepairableError,
  VenueLookupUnavailableError,
} from './reconciliation-errors.ts'
import type { ItemRow, ReconciliationItemRepository } from './reconciliation-item-repository.ts'
import { isActiveRunConflict, type ReconciliationRunRepository, type RunRow, type Totals } from './reconciliation-run-repository.ts'
import type { ReconciliationScheduleRepository, ScheduleRow } from './reconciliation-schedule-repository.ts'
import { scheduleTimes, type ReconciliationScheduler } from './reconciliation-scheduler.ts'

const RunCursor = Type.Object({ c: CursorField.timestamp(), i: CursorField.uuid() })
const ItemCursor = Type.Object({ s: CursorField.int64() })
export const DEFAULT_SCHEDULE = { enabled: true, hour: 3, quickCheck: true, autoRepair: false } as const

const iso = (value: Date | null): string | null => (value ? value.toISOString() : null)

function bucketsOf(totals: Totals | null): Array<{ currency: string; day: string; count: number; amount: number }> | null {
  if (!totals) return null
  return Object.keys(totals)
    .sort()
    .map((key) => {
      const at = key.indexOf(':')
      const bucket = totals[key] as { count: number; amount: number }
      return { currency: key.slice(0, at), day: key.slice(at + 1), count: bucket.count, amount: bucket.amount }
    })
}

export function toRunView(row: RunRow): RunView {
  return {
    id: row.id,
    venueId: row.venue_id,
    connectionId: row.connection_id,
    provider: row.provider,
    entity: row.entity,
    mode: row.mode,
    trigger: row.trigger,
    status: row.status,
    period: row.period_from || row.period_to ? { from: iso(row.period_from), to: iso(row.period_to) } : null,
    requestedBy: row.requested_by,
    jobId: row.job_id,
    pages: row.pages,
    counts: { provider: row.provider_count, hub: row.hub_count },
    totals: { provider: bucketsOf(row.provider_totals) ?? [], hub: bucketsOf(row.hub_totals) },
    mismatches: { missingInHub: row.missing_in_hub, missingAtProvider: row.missing_at_provider, changed: row.changed, amountMismatch: row.amount_mismatch },
    repaired: row.repaired,
    repairedAt: iso(row.repaired_at),
    escalatedRunId: row.escalated_run_id,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    createdAt: row.created_at.toISOString(),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    durationMs: row.duration_ms,
  }
}

const toItemView = (row: ItemRow) => ({
  id: row.id,
  kind: row.kind,
  externalId: row.external_id,
  providerHash: row.provider_hash,
  hubHash: row.hub_hash,
  currency: row.currency,
  day: row.day,
  providerCount: row.provider_count,
  hubCount: row.hub_count,
  providerAmount: row.provider_amount === null ? null : Number(row.provider_amount),
  hubAmount: row.hub_amount === null ? null : Number(row.hub_amount),
  repairStatus: row.repair_status,
  repairedAt: iso(row.repaired_at),
  createdAt: row.created_at.toISOString(),
})

function toScheduleView(connection: { id: string; venue_id: string }, row: ScheduleRow | null): ScheduleView {
  if (!row)
    return {
      connectionId: connection.id,
      venueId: connection.venue_id,
      configured: false,
      enabled: false,
      hour: DEFAULT_SCHEDULE.hour,
      timezone: 'UTC',
      quickCheck: DEFAULT_SCHEDULE.quickCheck,
      autoRepair: DEFAULT_SCHEDULE.autoRepair,
      ...scheduleTimes(connection.id, DEFAULT_SCHEDULE.hour),
      updatedAt: null,
    }
  return {
    connectionId: row.connection_id,
    venueId: row.venue_id,
    configured: true,
    enabled: row.enabled,
    hour: row.daily_hour,
    timezone: row.timezone,
    quickCheck: row.quick_check,
    autoRepair: row.auto_repair,
    ...scheduleTimes(row.connection_id, row.daily_hour),
    updatedAt: row.updated_at.toISOString(),
  }
}

export function createReconciliationService(deps: {
  db: Pick<Database, 'withTenant'>
  connections: ConnectionRepository
  providers: ProviderRegistry
  runs: ReconciliationRunRepository
  items: ReconciliationItemRepository
  schedules: ReconciliationScheduleRepository
  scheduler: Pick<ReconciliationScheduler, 'enqueueRuns' | 'apply'>
  engine: Pick<ReconciliationEngine, 'repair'>
  venues: Pick<VenueClient, 'getVenue'>
  audit: AuditOutbox
}) {
  const { db, runs, items, schedules } = deps

  /** A run the caller may see, or its 404. */
  async function visibleRun(ctx: RequestContext, id: string, access: 'read' | 'manage'): Promise<RunRow> {
    const row = await db.withTenant(ctx.principal.tenantId, (trx) => runs.find(trx, id))
    if (!row) throw new ReconciliationRunNotFoundError()
    assertVenueAccess(ctx.principal, row.venue_id, access, () => new ReconciliationRunNotFoundError())
    return row
  }

  async function visibleConnection(ctx: RequestContext, connectionId: string, access: 'read' | 'manage') {
    const connection = await db.withTenant(ctx.principal.tenantId, (trx) => deps.connections.findById(trx, connectionId))
    if (!connection || connection.status === 'disconnected') throw new ReconciliationConnectionNotFoundError('No connection with this id.')
    assertVenueAccess(ctx.principal, connection.venue_id, access, () => new ReconciliationConnectionNotFoundError('No connection with this id.'))
    return connection
  }

  return {
    async createRuns(ctx: RequestContext, body: RunRequest) {
      const principal = ctx.principal
      const venueId = body.venueId.toLowerCase()
      const notFound = () => new ReconciliationConnectionNotFoundError(`This venue has no ${body.provider} connection.`)
      assertVenueAccess(principal, venueId, 'manage', notFound)
      const from = body.period ? new Date(body.period.from) : null
      const to = body.period ? new Date(body.period.to) : null
      if (from && to && from.getTime() >= to.getTime()) throw new InvalidPeriodError()
      const connection = await db.withTenant(principal.tenantId, (trx) => deps.connections.findLive(trx, venueId, body.provider))
      if (!connection) throw notFound()
      const supported = deps.providers[body.provider].adapter.entities
      const entities: EntityName[] = body.entities ?? [...supported]
      for (const entity of entities) if (!supported.includes(entity)) throw new ReconciliationEntityNotSupportedError(body.provider, entity)
      const mode = body.mode ?? 'full'
      const actor = auditActor(ctx)
      const created = await db.withTenant(principal.tenantId, async (trx) => {
        const rows: RunRow[] = []
        const busy: string[] = []
        for (const entity of entities) {
          try {
            rows.push(
              await trx.transaction((sp) =>
                runs.insert(sp, { tenantId: principal.tenantId, venueId, connectionId: connection.id, provider: body.provider, entity, mode, trigger: 'manual', requestedBy: actor.actorId, periodFrom: from, periodTo: to }),
              ),
            )
          } catch (error) {
            if (!isActiveRunConflict(error)) throw error
            busy.push(entity)
          }
        }
        if (busy.length > 0) throw new ReconciliationAlreadyRunningError(busy)
        for (const row of rows) await deps.audit.record(trx, { ...actor, action: 'reconciliation.run_requested', entityType: 'reconciliation_run', entityId: row.id, after: runSummary(row) })
        return rows
      })
      let jobId: string | null = null
      try {
        jobId = await deps.scheduler.enqueueRuns(
          { tenantId: principal.tenantId, venueId, connectionId: connection.id },
          created.map((row) => row.id),
          mode === 'quick' ? 'low' : 'normal',
        )
      } catch {
        // The runs are recorded (Postgres is the truth); the worker's restore queues them later.
        throw new ReconciliationQueueUnavailableError()
      }
      return { connectionId: connection.id, jobId, runs: created.map(toRunView) }
    },

    async listRuns(ctx: RequestContext, query: RunList) {
      const principal = ctx.principal
      if (query.venueId && !canReadVenue(principal, query.venueId)) return { data: [], nextCursor: null }
      const after = query.cursor ? readCursor(query.cursor, RunCursor) : undefined
      const { rows, nextCursor } = await page(
        query.limit,
        (take) =>
          db.withTenant(principal.tenantId, (trx) =>
            runs.list(trx, {
              venueId: query.venueId?.toLowerCase(),
              venueIds: !hasRole(principal, 'admin') && principal.venueIds ? principal.venueIds : undefined,
              connectionId: query.connectionId?.toLowerCase(),
              provider: query.provider,
              entity: query.entity,
              status: query.status,
              mode: query.mode,
              before: after ? { createdAt: after.c, id: after.i } : undefined,
              limit: take,
            }),
          ),
        (last) => ({ c: last.created_at.toISOString(), i: last.id }),
      )
      return { data: rows.map(toRunView), nextCursor }
    },

    async getRun(ctx: RequestContext, id: string, query: RunItems) {
      const row = await visibleRun(ctx, id, 'read')
      const after = query.cursor ? readCursor(query.cursor, ItemCursor) : undefined
      const { rows, nextCursor } = await page(
        query.limit,
        (take) => db.withTenant(ctx.principal.tenantId, (trx) => items.list(trx, id, { afterSeq: after?.s, kind: query.kind, limit: take })),
        (last) => ({ s: last.seq }),
      )
      return { run: toRunView(row), items: { data: rows.map(toItemView), nextCursor } }
    },

    async repair(ctx: RequestContext, id: string): Promise<RepairResult & { run: RunView }> {
      const row = await visibleRun(ctx, id, 'manage')
      if (row.mode !== 'full' || row.status !== 'drift') throw new RunNotRepairableError(row.status, row.mode)
      let result: RepairResult
      try {
        result = await deps.engine.repair(ctx.principal.tenantId, id, auditActor(ctx))
      } catch (error) {
        if (toSyncFailure(error).code === 'RUN_LOCKED') throw new ReconciliationBusyError()
        throw error
      }
      const after = await db.withTenant(ctx.principal.tenantId, (trx) => runs.find(trx, id))
      return { ...result, run: toRunView(after ?? row) }
    },

    async getSchedule(ctx: RequestContext, connectionId: string): Promise<ScheduleView> {
      const connection = await visibleConnection(ctx, connectionId, 'read')
      const row = await db.withTenant(ctx.principal.tenantId, (trx) => schedules.find(trx, connection.id))
      return toScheduleView(connection, row)
    },

    async putSchedule(ctx: RequestContext, connectionId: string, body: ScheduleUpdate): Promise<ScheduleView> {
      const connection = await visibleConnection(ctx, connectionId, 'manage')
      const tenantId = ctx.principal.tenantId
      if (body.timezone !== undefined && !isTimezone(body.timezone)) throw new InvalidTimezoneError(body.timezone)
      const before = await db.withTenant(tenantId, (trx) => schedules.find(trx, connection.id))
      let timezone = body.timezone ?? before?.timezone
      if (!timezone) {
        // The daily hour is the venue's: its time zone is asked of venue-service once, then kept.
        const venue = await deps.venues.getVenue(tenantId, connection.venue_id).catch(() => {
          throw new VenueLookupUnavailableError()
        })
        timezone = venue?.timezone && isTimezone(venue.timezone) ? venue.timezone : 'UTC'
      }
      const actor = auditActor(ctx)
      const saved = await db.withTenant(tenantId, async (trx) => {
        const row = await schedules.upsert(trx, {
          connection_id: connection.id,
          tenant_id: tenantId,
          venue_id: connection.venue_id,
          enabled: body.enabled ?? before?.enabled ?? DEFAULT_SCHEDULE.enabled,
          daily_hour: body.hour ?? before?.daily_hour ?? DEFAULT_SCHEDULE.hour,
          timezone: timezone as string,
          quick_check: body.quickCheck ?? before?.quick_check ?? DEFAULT_SCHEDULE.quickCheck,
          auto_repair: body.autoRepair ?? before?.auto_repair ?? DEFAULT_SCHEDULE.autoRepair,
          updated_by: actor.actorId,
        })
        await deps.audit.record(trx, {
          ...actor,
          action: 'reconciliation.schedule_updated',
          entityType: 'connection',
          entityId: connection.id,
          before: before ? toScheduleView(connection, before) : null,
          after: toScheduleView(connection, row),
        })
        return row
      })
      try {
        await deps.scheduler.apply(saved)
      } catch {
        // Saved in Postgres; the worker's restore applies it when Redis is back.
        throw new ReconciliationQueueUnavailableError()
      }
      return toScheduleView(connection, saved)
    },
  }
}

export type ReconciliationService = ReturnType<typeof createReconciliationService>
