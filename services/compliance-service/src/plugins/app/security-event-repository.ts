// Security events as stored by compliance-service: idempotent by the reporter's event id.
import type { Knex } from 'knex'
import type { SecurityEventInput } from '@hub/contracts'

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
    receivedAt: row.received_at.toISOString(),
    resolvedAt: row.resolved_at ? row.resolved_at.toISOString() : null,
    resolvedBy: row.resolved_by,
    resolutionNote: row.resolution_note,
  }
}

export function createSecurityEventRepository() {
  const table = (trx: Knex.Transaction) => trx<SecurityEventRow>('compliance.security_events')
  return {
    /** Inserts the events not seen before; a resent event is ignored. Returns how many were new. */
    async insertMany(trx: Knex.Transaction, events: SecurityEventInput[]): Promise<number> {
      if (events.length === 0) return 0
      const rows = events.map((event) => ({
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
        details: JSON.stringify(event.details ?? {}) as unknown as Record<string, unknown>,
        occurred_at: new Date(event.occurredAt),
      }))
      const inserted = await table(trx).insert(rows).onConflict('id').ignore().returning('id')
      return inserted.length
    },

    async list(trx: Knex.Transaction, filter: { open?: boolean; type?: string; limit: number; before?: { at: string; id: string } }) {
      const query = table(trx).select('*')
      if (filter.open) query.whereNull('resolved_at')
      if (filter.type) query.where('type', filter.type)
      if (filter.before) query.whereRaw('(occurred_at, id) < (?::timestamptz, ?::uuid)', [filter.before.at, filter.before.id])
      return (await query.orderBy([{ column: 'occurred_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(filter.limit)).map(toSecurityEvent)
    },

    async resolve(trx: Knex.Transaction, id: string, by: string, note: string | null) {
      const [row] = await table(trx).where({ id }).whereNull('resolved_at').update({ resolved_at: trx.fn.now() as unknown as Date, resolved_by: by, resolution_note: note }).returning('*')
      return row ? toSecurityEvent(row) : null
    },

    async findById(trx: Knex.Transaction, id: string) {
      const row = await table(trx).where({ id }).first()
      return row ? toSecurityEvent(row) : null
    },
  }
}

export type SecurityEventRepository = ReturnType<typeof createSecurityEventRepository>
