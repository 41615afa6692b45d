// The append-only audit log: events from every service's outbox, chained per tenant by
// hash = SHA-256(prev_hash "\n" canonical event), where the canonical event is its JSON with keys
// sorted at every depth. Appends for one tenant are serialised by an advisory lock, so the chain
// has exactly one head; an event id seen before is skipped, so a relay may deliver twice.
import type { Knex } from 'knex'
import { maskEmailsIn, type AuditEventInput } from '@hub/contracts'
import { GENESIS_HASH, eventHash, type SignedDigest } from './audit-chain.ts'

export { GENESIS_HASH }

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
  /** Entries of removed segments, vouched for by their checkpoints. */
  archived: number
  headHash: string
  /**
   * The first entry that does not fit; or, the chain being consistent, the head the newest signed
   * digest names when the chain no longer holds it (`truncated`: past the chain's end;
   * `digest_mismatch`: a different entry, the chain was rewritten) — then `digestNo` names it.
   */
  firstBroken: { seq: string; eventId: string | null; reason: 'hash_mismatch' | 'chain_broken' | 'checkpoint_mismatch' | 'truncated' | 'digest_mismatch'; digestNo?: number } | null
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
  return eventHash(prevHash, auditEventOf(row))
}

/** An entry as auditors read it, in lists and exports. */
export const toAuditEntry = (row: AuditLogRow) => ({ seq: String(row.seq), ...auditEventOf(row), recordedAt: row.recorded_at.toISOString(), prevHash: row.prev_hash, hash: row.hash })

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
          // Emails masked whoever wrote the event: an append-only log can never be erased later.
          before: event.before === null ? null : (JSON.parse(JSON.stringify(maskEmailsIn(event.before))) as unknown),
          after: event.after === null ? null : (JSON.parse(JSON.stringify(maskEmailsIn(event.after))) as unknown),
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

    /** Tenants with a chain (system scope), walked through the (tenant_id, seq) index one tenant at a time. */
    async tenantIds(trx: Knex.Transaction): Promise<string[]> {
      const result = await trx.raw<{ rows: Array<{ id: string }> }>(`
        with recursive t as (
          (select tenant_id as id from compliance.audit_log where tenant_id is not null order by tenant_id limit 1)
          union all
          select (select tenant_id from compliance.audit_log where tenant_id > t.id order by tenant_id limit 1) from t where t.id is not null
        )
        select id from t where id is not null`)
      return result.rows.map((row) => row.id)
    },

    /** Whether venue-service ever audited this venue (row-level security scopes it to the tenant). */
    async knowsVenue(trx: Knex.Transaction, venueId: string): Promise<boolean> {
      return (await table(trx).select(trx.raw('1')).where({ entity_type: 'venue', entity_id: venueId }).first()) !== undefined
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

    /** First and last sequence numbers of the entries that happened in [from, to); null when none did. */
    async seqSpan(trx: Knex.Transaction, from: string, to: string): Promise<{ firstSeq: string; lastSeq: string } | null> {
      const span = (await table(trx).where('occurred_at', '>=', from).andWhere('occurred_at', '<', to).min('seq as first').max('seq as last').first()) as { first: string | null; last: string | null } | undefined
      return span?.first && span.last ? { firstSeq: String(span.first), lastSeq: String(span.last) } : null
    },

    /**
     * The checkpoint of the removed segment that ends right before `firstSeq`, when nothing lies
     * between them: it anchors the link of an export's first entry.
     */
    async exportAnchor(trx: Knex.Transaction, tenantId: string, firstSeq: string): Promise<{ through_seq: string; head_hash: string } | null> {
      const segment = (await trx('compliance.audit_segments').where('tenant_id', tenantId).andWhere('through_seq', '<', firstSeq).orderBy('through_seq', 'desc').first('through_seq', 'head_hash')) as
        { through_seq: string; head_hash: string } | undefined
      if (!segment) return null
      const between = await table(trx).where('tenant_id', tenantId).andWhere('seq', '>', segment.through_seq).andWhere('seq', '<', firstSeq).first('seq')
      return between ? null : segment
    },

    /** Every entry after `afterSeq` up to `throughSeq`, in chain order: a contiguous stretch of the chain. */
    async stretch(trx: Knex.Transaction, filter: { afterSeq: string; throughSeq: string; limit: number }): Promise<AuditLogRow[]> {
      return (await table(trx).where('seq', '>', filter.afterSeq).andWhere('seq', '<=', filter.throughSeq).orderBy('seq').limit(filter.limit)) as AuditLogRow[]
    },

    /** The tenant's newest entry's sequence number (where an export that reaches it ends); null for an empty chain. */
    async headSeq(trx: Knex.Transaction, tenantId: string): Promise<string | null> {
      const head = (await table(trx).where('tenant_id', tenantId).max('seq as seq').first()) as { seq: string | null } | undefined
      return head?.seq ? String(head.seq) : null
    },

    /**
     * Recomputes the tenant's chain from the start and names the first row that does not fit. A
     * removed segment is crossed by its checkpoint: it must start from the hash reached so far,
     * and the chain goes on from its sealed head. Then the head of the newest signed digest must
     * still be in the chain, as it was signed: a chain recomputed row by row cannot show that its
     * newest entries were deleted, or rewritten with fresh hashes, but that digest can. Read it
     * in the same transaction before calling: the head it names was written before the rows are
     * read here, so it must be among them.
     */
    async verify(trx: Knex.Transaction, tenantId: string, newestDigest: Pick<SignedDigest, 'digestNo' | 'headSeq' | 'headHash'> | null, batchSize = 1000): Promise<ChainVerification> {
      const signed = newestDigest ? { digest_no: newestDigest.digestNo, head_seq: newestDigest.headSeq, head_hash: newestDigest.headHash } : undefined
      const removed = (await trx('compliance.audit_segments as s')
        .join('compliance.audit_segment_removals as r', function () {
          this.on('r.tenant_id', 's.tenant_id').andOn('r.segment_no', 's.segment_no')
        })
        .where('s.tenant_id', tenantId)
        .orderBy('s.from_seq')
        .select('s.from_seq', 's.through_seq', 's.first_event_id', 's.first_prev_hash', 's.head_hash', 's.entry_count')) as Array<{
        from_seq: string
        through_seq: string
        first_event_id: string
        first_prev_hash: string
        head_hash: string
        entry_count: number
      }>
      let prevHash = GENESIS_HASH
      let checked = 0
      let archived = 0
      let nextGap = 0
      let lastSeq: bigint | null = null
      let signedEntry: { hash: string; eventId: string } | null = null
      const result = (firstBroken: ChainVerification['firstBroken']): ChainVerification => ({ ok: firstBroken === null, checked, archived, headHash: prevHash, firstBroken })
      const checkSignedHead = (): ChainVerification => {
        if (!signed) return result(null)
        const seq = BigInt(signed.head_seq)
        const broken = (reason: 'truncated' | 'digest_mismatch', eventId: string | null) => result({ seq: String(signed.head_seq), eventId, reason, digestNo: signed.digest_no })
        // A head inside a removed segment is vouched for by its checkpoint (and kept in its archive).
        const gap = removed.find((segment) => BigInt(segment.from_seq) <= seq && seq <= BigInt(segment.through_seq))
        if (gap) return seq === BigInt(gap.through_seq) && gap.head_hash !== signed.head_hash ? broken('digest_mismatch', null) : result(null)
        if (signedEntry) return signedEntry.hash === signed.head_hash ? result(null) : broken('digest_mismatch', signedEntry.eventId)
        return lastSeq === null || seq > lastSeq ? broken('truncated', null) : broken('digest_mismatch', null)
      }
      /** Crosses every removed segment that ends before `seq` (all of them when null). */
      const crossGaps = (seq: bigint | null): ChainVerification | null => {
        for (let gap = removed[nextGap]; gap && (seq === null || BigInt(gap.through_seq) < seq); gap = removed[++nextGap]) {
          if (gap.first_prev_hash !== prevHash) return result({ seq: String(gap.from_seq), eventId: gap.first_event_id, reason: 'checkpoint_mismatch' })
          prevHash = gap.head_hash
          archived += gap.entry_count
        }
        return null
      }
      let afterSeq = '0'
      for (;;) {
        const rows = (await table(trx).where('tenant_id', tenantId).andWhere('seq', '>', afterSeq).orderBy('seq').limit(batchSize)) as AuditLogRow[]
        for (const row of rows) {
          const broken = crossGaps(BigInt(row.seq))
          if (broken) return broken
          if (row.prev_hash !== prevHash) return result({ seq: String(row.seq), eventId: row.event_id, reason: 'chain_broken' })
          if (chainHash(prevHash, row) !== row.hash) return result({ seq: String(row.seq), eventId: row.event_id, reason: 'hash_mismatch' })
          prevHash = row.hash
          checked++
          lastSeq = BigInt(row.seq)
          if (signed && String(row.seq) === String(signed.head_seq)) signedEntry = { hash: row.hash, eventId: row.event_id }
        }
        if (rows.length < batchSize) return crossGaps(null) ?? checkSignedHead()
        afterSeq = String(rows.at(-1)?.seq)
      }
    },
  }
}

export type AuditLogStore = ReturnType<typeof createAuditLogStore>
