// The append-only audit log: events from every service's outbox, chained per tenant by
// hash = SHA-256(prev_hash "\n" canonical event), where the canonical event is its JSON with keys
// sorted at every depth. Appends for one tenant are serialised by an advisory lock, so the chain
// has exactly one head; an event id seen before is skipped, so a relay may deliver twice.
import { createHash } from 'node:crypto'
import type { Knex } from 'knex'
import type { AuditEventInput } from '@hub/contracts'

export const GENESIS_HASH = '0'.repeat(64)

export interface AuditLogRow {
  seq: string
  tenant_id: string
  event_id: string
  source: string
  actor_type: 'user' | 'service'
  actor_id: string
  action: string
  entity_type: string
  entity_id: string
  before: unknown
  after: unknown
  request_id: string | null
  ip: string | null
  occurred_at: Date
  recorded_at: Date
  prev_hash: string
  hash: string
}

export interface AuditLogFilter {
  entityType?: string
  entityId?: string
  action?: string
  actorId?: string
  /** Entries older than this sequence number (the cursor). */
  beforeSeq?: string
  limit: number
}

export interface ChainVerification {
  ok: boolean
  checked: number
  headHash: string
  firstBroken: { seq: string; eventId: string; reason: 'hash_mismatch' | 'chain_broken' } | null
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, inner]) => inner !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonicalJson(inner)}`).join(',')}}`
  }
  return JSON.stringify(value ?? null)
}

type EventColumns = Omit<AuditLogRow, 'seq' | 'recorded_at' | 'hash' | 'prev_hash'>

/** The event as auditors read it; the hash covers exactly these fields. */
export function auditEventOf(row: EventColumns) {
  return {
    eventId: row.event_id,
    tenantId: row.tenant_id,
    source: row.source,
    actorType: row.actor_type,
    actorId: row.actor_id,
    action: row.action,
    entityType: row.entity_type,
    entityId: row.entity_id,
    before: row.before,
    after: row.after,
    requestId: row.request_id,
    ip: row.ip,
    occurredAt: row.occurred_at.toISOString(),
  }
}

export function chainHash(prevHash: string, row: EventColumns): string {
  return createHash('sha256').update(`${prevHash}\n${canonicalJson(auditEventOf(row))}`).digest('hex')
}

const table = (trx: Knex.Transaction) => trx<AuditLogRow>('compliance.audit_log')

export function createAuditLogStore() {
  return {
    /**
     * Appends one tenant's events (call inside `withTenant` for that tenant). Returns how many
     * were new; the rest had been appended before.
     */
    async append(trx: Knex.Transaction, tenantId: string, events: AuditEventInput[]): Promise<number> {
      await trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`compliance.audit_log:${tenantId}`])
      const ids = [...new Set(events.map((event) => event.id.toLowerCase()))]
      const seen = new Set((await table(trx).whereIn('event_id', ids).pluck('event_id')) as string[])
      const head = (await table(trx).where('tenant_id', tenantId).orderBy('seq', 'desc').first('hash')) as { hash: string } | undefined
      let prevHash = head?.hash ?? GENESIS_HASH
      const rows: Array<Record<string, unknown>> = []
      for (const event of events) {
        const eventId = event.id.toLowerCase()
        if (seen.has(eventId)) continue
        seen.add(eventId)
        // Through JSON once, so the hash is over exactly what jsonb will hand back to verify.
        const row = {
          tenant_id: tenantId,
          event_id: eventId,
          source: event.source,
          actor_type: event.actorType,
          actor_id: event.actorId,
          action: event.action,
          entity_type: event.entityType,
          entity_id: event.entityId,
          before: event.before === null ? null : (JSON.parse(JSON.stringify(event.before)) as unknown),
          after: event.after === null ? null : (JSON.parse(JSON.stringify(event.after)) as unknown),
          request_id: event.requestId,
          ip: event.ip,
          occurred_at: new Date(event.occurredAt),
        }
        const hash = chainHash(prevHash, row)
        rows.push({ ...row, before: row.before === null ? null : JSON.stringify(row.before), after: row.after === null ? null : JSON.stringify(row.after), prev_hash: prevHash, hash })
        prevHash = hash
      }
      // One statement; its rows take their sequence numbers in the order listed, the chain's order.
      if (rows.length > 0) await table(trx).insert(rows)
      return rows.length
    },

    async list(trx: Knex.Transaction, filter: AuditLogFilter): Promise<AuditLogRow[]> {
      const query = table(trx).select('*')
      if (filter.entityType) query.where('entity_type', filter.entityType)
      if (filter.entityId) query.where('entity_id', filter.entityId)
      if (filter.action) query.where('action', filter.action)
      if (filter.actorId) query.where('actor_id', filter.actorId)
      if (filter.beforeSeq) query.where('seq', '<', filter.beforeSeq)
      return (await query.orderBy('seq', 'desc').limit(filter.limit)) as AuditLogRow[]
    },

    /** Entries that happened in [from, to), in log order, after a sequence number (for exports). */
    async range(trx: Knex.Transaction, filter: { from: string; to: string; afterSeq: string; limit: number }): Promise<AuditLogRow[]> {
      return (await table(trx).where('occurred_at', '>=', filter.from).andWhere('occurred_at', '<', filter.to).andWhere('seq', '>', filter.afterSeq).orderBy('seq').limit(filter.limit)) as AuditLogRow[]
    },

    /** Recomputes the tenant's chain from the start and names the first row that does not fit. */
    async verify(trx: Knex.Transaction, tenantId: string, batchSize = 1000): Promise<ChainVerification> {
      let prevHash = GENESIS_HASH
      let checked = 0
      let afterSeq = '0'
      for (;;) {
        const rows = (await table(trx).where('tenant_id', tenantId).andWhere('seq', '>', afterSeq).orderBy('seq').limit(batchSize)) as AuditLogRow[]
        for (const row of rows) {
          if (row.prev_hash !== prevHash) return { ok: false, checked, headHash: prevHash, firstBroken: { seq: String(row.seq), eventId: row.event_id, reason: 'chain_broken' } }
          if (chainHash(prevHash, row) !== row.hash) return { ok: false, checked, headHash: prevHash, firstBroken: { seq: String(row.seq), eventId: row.event_id, reason: 'hash_mismatch' } }
          prevHash = row.hash
          checked++
        }
        if (rows.length < batchSize) return { ok: true, checked, headHash: prevHash, firstBroken: null }
        afterSeq = String(rows.at(-1)?.seq)
      }
    },
  }
}

export type AuditLogStore = ReturnType<typeof createAuditLogStore>
