// Security events as stored by compliance-service: idempotent by the reporter's event id.
import type { Knex } from 'knex'
import type { SecurityEventInput } from '@hub/contracts'
import { jsonb } from '@hub/service-kit'

export interface SecurityEventRow {
  id: string
  tenant_id: string | null
  type: SecurityEventInput['type']
  severity: SecurityEventInput['severity']
  source: string
  code: string
  actor: string | null
  ip: string | null
  method: string | null
  path: string | null
  request_id: string | null
  details: Record<string, unknown>
  occurred_at: Date
  count: number
  first_seen_at: Date
  last_seen_at: Date
  received_at: Date
  resolved_at: Date | null
  resolved_by: string | null
  resolution_note: string | null
}

export function toSecurityEvent(row: SecurityEventRow) {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    type: row.type,
    severity: row.severity,
    source: row.source,
    code: row.code,
    actor: row.actor,
    ip: row.ip,
    method: row.method,
    path: row.path,
    requestId: row.request_id,
    details: row.details,
    occurredAt: row.occurred_at.toISOString(),
    count: row.count,
    firstSeenAt: row.first_seen_at.toISOString(),
    lastSeenAt: row.last_seen_at.toISOString(),
    receivedAt: row.received_at.toISOString(),
    resolvedAt: row.resolved_at ? row.resolved_at.toISOString() : null,
    resolvedBy: row.resolved_by,
    resolutionNote: row.resolution_note,
  }
}

/** The incoming copy saw refusals after the stored event was resolved (false while it is open). */
const SEEN_SINCE_RESOLVED = 'excluded.last_seen_at > security_events.resolved_at'

export type SecurityEvent = ReturnType<typeof toSecurityEvent>

export function createSecurityEventRepository() {
  const table = (trx: Knex.Transaction) => trx<SecurityEventRow>('compliance.security_events')
  return {
    /**
     * Stores events, idempotent by id. An id seen before is a repeat of an aggregated event whose
     * window grew: it keeps the highest count and the widest first/last seen, so a resend or an
     * out-of-order copy never lowers it. Returns how many ids were new.
     *
     * A copy last seen after the event was resolved re-opens it (resolution cleared): those
     * refusals happened after someone looked, so they must show under `open=true`. Re-opening the
     * one row rather than starting another keeps the reporter's id the event's only key (every
     * later copy of the window lands on it, and its count is never split), keeps resolve's 409 for
     * "already resolved" meaning that nothing new has happened since, and loses nothing: the
     * earlier resolution stays in the audit log. A late copy of what was seen before the
     * resolution leaves it resolved.
     */
    async insertMany(trx: Knex.Transaction, events: SecurityEventInput[]): Promise<number> {
      if (events.length === 0) return 0
      // One statement may not touch a row twice: fold copies of one id first, by the uuid and not
      // its spelling (Postgres takes either case as the same id, as the audit intake does).
      const byId = new Map<string, SecurityEventInput>()
      for (const event of events) {
        const id = event.id.toLowerCase()
        const seen = byId.get(id)
        if (!seen || (event.count ?? 1) >= (seen.count ?? 1)) byId.set(id, { ...event, id })
      }
      const rows = [...byId.values()].map((event) => ({
        id: event.id,
        tenant_id: event.tenantId ?? null,
        type: event.type,
        severity: event.severity,
        source: event.source,
        code: event.code,
        actor: event.actor ?? null,
        ip: event.ip ?? null,
        method: event.method ?? null,
        path: event.path ?? null,
        request_id: event.requestId ?? null,
        details: jsonb(event.details ?? {}),
        occurred_at: new Date(event.occurredAt),
        count: event.count ?? 1,
        first_seen_at: new Date(event.firstSeenAt ?? event.occurredAt),
        last_seen_at: new Date(event.lastSeenAt ?? event.occurredAt),
      }))
      const stored = await table(trx)
        .insert(rows)
        .onConflict('id')
        .merge({
          count: trx.raw('greatest(security_events.count, excluded.count)'),
          first_seen_at: trx.raw('least(security_events.first_seen_at, excluded.first_seen_at)'),
          last_seen_at: trx.raw('greatest(security_events.last_seen_at, excluded.last_seen_at)'),
          // Every right-hand side reads the row as it was, so all three test the old resolved_at.
          resolved_at: trx.raw(`case when ${SEEN_SINCE_RESOLVED} then null else security_events.resolved_at end`),
          resolved_by: trx.raw(`case when ${SEEN_SINCE_RESOLVED} then null else security_events.resolved_by end`),
          resolution_note: trx.raw(`case when ${SEEN_SINCE_RESOLVED} then null else security_events.resolution_note end`),
        })
        .returning<{ inserted: boolean }[]>(trx.raw('(xmax = 0) as inserted'))
      return stored.filter((row) => row.inserted).length
    },

    /** Lists what the transaction may see; `tenantless` keeps only events of no tenant (system scope). */
    async list(trx: Knex.Transaction, filter: { open?: boolean; type?: string; limit: number; before?: { at: string; id: string }; tenantless?: boolean }) {
      const query = table(trx).select('*')
      // In the system scope, only the events of no tenant; in a tenant's, row-level security keeps its own.
      if (filter.tenantless) query.whereNull('tenant_id')
      if (filter.open) query.whereNull('resolved_at')
      if (filter.type) query.where('type', filter.type)
      if (filter.before) query.whereRaw('(occurred_at, id) < (?::timestamptz, ?::uuid)', [filter.before.at, filter.before.id])
      return (
        await query
          .orderBy([
            { column: 'occurred_at', order: 'desc' },
            { column: 'id', order: 'desc' },
          ])
          .limit(filter.limit)
      ).map(toSecurityEvent)
    },

    async resolve(trx: Knex.Transaction, id: string, by: string, note: string | null) {
      const [row] = await table(trx).where({ id }).whereNull('resolved_at').update({ resolved_at: trx.fn.now(), resolved_by: by, resolution_note: note }).returning('*')
      return row ? toSecurityEvent(row) : null
    },

    /**
     * Resolves an event of no tenant (call in the system scope, which sees every tenant's: only
     * `tenant_id is null` is an operator's to resolve), then moves the transaction into
     * `auditTenantId`'s scope, the system scope's setting and role both left. The audit entry that
     * follows is appended under that tenant's row-level security in the same transaction, so the
     * resolution and its audit commit together or not at all. Nothing moves when nothing was resolved.
     */
    async resolveTenantless(trx: Knex.Transaction, id: string, by: string, note: string | null, auditTenantId: string) {
      const [row] = await table(trx).where({ id }).whereNull('tenant_id').whereNull('resolved_at').update({ resolved_at: trx.fn.now(), resolved_by: by, resolution_note: note }).returning('*')
      if (!row) return null
      await trx.raw("select set_config('app.scope', '', true), set_config('role', 'none', true), set_config('app.tenant_id', ?, true)", [auditTenantId])
      return toSecurityEvent(row)
    },

    /** Tenants with stored events (system scope), walked through the index one tenant at a time. */
    async tenantIds(trx: Knex.Transaction): Promise<string[]> {
      const result = await trx.raw<{ rows: Array<{ id: string }> }>(`
        with recursive t as (
          (select tenant_id as id from compliance.security_events where tenant_id is not null order by tenant_id limit 1)
          union all
          select (select tenant_id from compliance.security_events where tenant_id > t.id order by tenant_id limit 1) from t where t.id is not null
        )
        select id from t where id is not null`)
      return result.rows.map((row) => row.id)
    },

    /**
     * Retention: deletes at most `limit` events last seen before `cutoff`, of one tenant or of no
     * tenant (null), in the system scope (the tenant's own scope may only read and resolve).
     */
    async purgeBatch(trx: Knex.Transaction, tenantId: string | null, cutoff: Date, limit: number): Promise<number> {
      const result = await trx.raw(
        `delete from compliance.security_events where ctid = any(array(
           select ctid from compliance.security_events where tenant_id is not distinct from ?::uuid and last_seen_at < ? limit ?))`,
        [tenantId, cutoff, limit],
      )
      return (result as { rowCount: number }).rowCount
    },

    /** `tenantless` keeps only an event of no tenant (in the system scope, which sees them all). */
    async findById(trx: Knex.Transaction, id: string, options: { tenantless?: boolean } = {}) {
      const query = table(trx).where({ id })
      if (options.tenantless) query.whereNull('tenant_id')
      const row = await query.first()
      return row ? toSecurityEvent(row) : null
    },
  }
}

export type SecurityEventRepository = ReturnType<typeof createSecurityEventRepository>
