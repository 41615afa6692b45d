// Audit log segments: a stretch of a tenant's chain sealed into an archive (JSON lines in the
// export format, with a checkpoint line, the segment's entries, the signed digest of its head and
// the public keys), whose checkpoint stays in `audit_segments` for good, and which is removed from
// `audit_log` only through remove_sealed_segment() (see its migration) by whoever presents the
// archive's hash. The archive is rebuilt from the rows on demand and must hash to what was sealed.
// Only entries past the tenant's audit-log period are sealed or removed, and nothing is while a
// legal hold is active anywhere in the tenant: the same rules the clean-up run follows.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Knex } from 'knex'
import { BadRequestError, ConflictError, NotFoundError } from '@hub/contracts'
import { EXPORT_FORMAT, GENESIS_HASH, eventHash, type SignedDigest } from './audit-chain.ts'
import { auditEventOf, toAuditEntry, type AuditLogRow } from './audit-log-store.ts'
import type { AuditDigestStore } from './audit-digest-store.ts'
import { auditChainHeld, auditLogCutoff } from './retention/retention-service.ts'
import type { RetentionStore } from './retention/retention-store.ts'

export class AuditLegalHoldActiveError extends ConflictError {
  constructor() {
    super('AUDIT_LEGAL_HOLD_ACTIVE', 'A legal hold is active in your tenant: its whole audit chain is kept, so no segment is sealed or removed until every hold is released.')
  }
}

export class AuditRetentionNotElapsedError extends ConflictError {
  constructor(detail: string, extra: { retentionDays: number; latestBefore?: string; removableAfter?: string }) {
    super('AUDIT_RETENTION_NOT_ELAPSED', detail, extra)
  }
}

export class AuditSealBeforeInFutureError extends BadRequestError {
  constructor() {
    super('AUDIT_SEAL_BEFORE_IN_FUTURE', '`before` is in the future: only entries that already happened, and are past the audit-log period, are sealed.', {
      errors: [{ path: '/body/before', message: 'must not be in the future' }],
    })
  }
}

interface SegmentRow {
  tenant_id: string
  segment_no: number
  from_seq: string
  through_seq: string
  first_event_id: string
  first_prev_hash: string
  head_hash: string
  entry_count: number
  digest_no: number
  archive_sha256: string
  sealed_at: Date
  removed_at?: Date | null
}

/**
 * A segment as the API shows it. The archive's SHA-256 is what removal asks for, so it stays out
 * of every answer until the segment is removed: only someone holding the archive's bytes (from
 * GET …/archive) can compute it. Once removed, it says which archive the entries went to.
 */
export function toSegment(row: SegmentRow) {
  return {
    segmentNo: row.segment_no,
    fromSeq: String(row.from_seq),
    throughSeq: String(row.through_seq),
    entryCount: row.entry_count,
    firstPrevHash: row.first_prev_hash,
    headHash: row.head_hash,
    digestNo: row.digest_no,
    archiveSha256: row.removed_at ? row.archive_sha256 : null,
    sealedAt: row.sealed_at.toISOString(),
    removedAt: row.removed_at ? row.removed_at.toISOString() : null,
  }
}
export type AuditSegment = ReturnType<typeof toSegment>

/** What the audit entry of a seal records: the checkpoint, never the archive's hash (see toSegment). */
export const sealedImage = (segment: AuditSegment) => ({ fromSeq: segment.fromSeq, throughSeq: segment.throughSeq, entryCount: segment.entryCount, headHash: segment.headHash, digestNo: segment.digestNo })

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')
const sameHash = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))

/** The archive's bytes: the same for the same segment, whenever it is built. */
export function segmentArchive(segment: SegmentRow, rows: AuditLogRow[], digests: SignedDigest[], keys: Array<{ keyId: string; algorithm: string; publicKeyPem: string }>): string {
  const lines: unknown[] = [
    {
      type: 'header',
      format: EXPORT_FORMAT,
      kind: 'segment',
      tenantId: segment.tenant_id,
      segmentNo: segment.segment_no,
      fromSeq: String(segment.from_seq),
      throughSeq: String(segment.through_seq),
      entryCount: segment.entry_count,
      sealedAt: segment.sealed_at.toISOString(),
    },
  ]
  // Where the chain stood before this segment: the verifier links the first entry to it.
  if (segment.first_prev_hash !== GENESIS_HASH) lines.push({ type: 'checkpoint', tenantId: segment.tenant_id, throughSeq: String(BigInt(segment.from_seq) - 1n), headHash: segment.first_prev_hash })
  for (const row of rows) lines.push({ type: 'entry', ...toAuditEntry(row) })
  for (const digest of digests) lines.push({ type: 'digest', ...digest })
  for (const key of keys) lines.push({ type: 'key', keyId: key.keyId, algorithm: key.algorithm, publicKeyPem: key.publicKeyPem })
  return lines.map((line) => `${JSON.stringify(line)}\n`).join('')
}

export function createAuditSegmentStore(digestStore: AuditDigestStore, retention: Pick<RetentionStore, 'plan'>) {
  const segments = (trx: Knex.Transaction) => trx<SegmentRow>('compliance.audit_segments')

  // Appends wait, and so do seals, removals and the placing of a hold (it appends its audit entry
  // under this lock): a hold committed before this transaction took the lock is seen below.
  const lockChain = (trx: Knex.Transaction, tenantId: string) => trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`compliance.audit_log:${tenantId}`])

  /** The tenant's audit-log period, refused outright while any hold is active (call under lockChain). */
  async function retentionOf(trx: Knex.Transaction, tenantId: string, now: Date): Promise<{ cutoff: Date; retentionDays: number }> {
    const plan = await retention.plan(trx, tenantId)
    if (auditChainHeld(plan)) throw new AuditLegalHoldActiveError()
    return { cutoff: auditLogCutoff(plan, now.getTime()), retentionDays: plan.periods.auditLog }
  }

  const withRemoval = (trx: Knex.Transaction) =>
    trx('compliance.audit_segments as s')
      .leftJoin('compliance.audit_segment_removals as r', function () {
        this.on('r.tenant_id', 's.tenant_id').andOn('r.segment_no', 's.segment_no')
      })
      .select('s.*', 'r.removed_at')

  /** The archive's text, and when its last entry happened (-Infinity when none is stored). */
  async function build(trx: Knex.Transaction, segment: SegmentRow): Promise<{ text: string; lastOccurredAt: number }> {
    const rows = (await trx('compliance.audit_log').where('tenant_id', segment.tenant_id).andWhere('seq', '>=', segment.from_seq).andWhere('seq', '<=', segment.through_seq).orderBy('seq')) as AuditLogRow[]
    const digests = await digestStore.covering(trx, segment.tenant_id, String(segment.from_seq), String(segment.through_seq), segment.digest_no)
    const keys = await digestStore.publicKeys(trx, [...new Set(digests.map((digest) => digest.keyId))])
    return { text: segmentArchive(segment, rows, digests, keys), lastOccurredAt: rows.reduce((latest, row) => Math.max(latest, row.occurred_at.getTime()), -Infinity) }
  }

  async function find(trx: Knex.Transaction, segmentNo: number): Promise<SegmentRow> {
    const row = (await withRemoval(trx).where('s.segment_no', segmentNo).first()) as SegmentRow | undefined
    if (!row) throw new NotFoundError('AUDIT_SEGMENT_NOT_FOUND', 'No such audit log segment in your tenant.')
    return row
  }

  return {
    /**
     * Seals the next segment (call inside `withTenant`): the entries after the last segment, in
     * chain order, up to the first one that happened at or after `before`, at most `maxEntries`.
     * `before` may not be later than the tenant's audit-log cutoff, so every sealed entry is past
     * the period; nothing is sealed under a hold. The stretch must verify; its head gets a signed
     * digest. Null when there is nothing to seal.
     */
    async seal(trx: Knex.Transaction, tenantId: string, before: string, maxEntries: number, now = new Date()): Promise<AuditSegment | null> {
      const cutoff = Date.parse(before)
      if (cutoff > now.getTime()) throw new AuditSealBeforeInFutureError()
      // The chain's head cannot move under the seal, nor a hold be placed while it is checked.
      await lockChain(trx, tenantId)
      const period = await retentionOf(trx, tenantId, now)
      if (cutoff > period.cutoff.getTime()) {
        throw new AuditRetentionNotElapsedError(`Entries are kept ${period.retentionDays} days (the tenant's audit-log period): \`before\` may be ${period.cutoff.toISOString()} at the latest.`, {
          retentionDays: period.retentionDays,
          latestBefore: period.cutoff.toISOString(),
        })
      }
      const last = await segments(trx).where('tenant_id', tenantId).orderBy('segment_no', 'desc').first()
      const candidates = (await trx('compliance.audit_log')
        .where('tenant_id', tenantId)
        .andWhere('seq', '>', last?.through_seq ?? '0')
        .orderBy('seq')
        .limit(maxEntries)) as AuditLogRow[]
      const stop = candidates.findIndex((row) => row.occurred_at.getTime() >= cutoff)
      const rows = stop === -1 ? candidates : candidates.slice(0, stop)
      const first = rows[0]
      const head = rows.at(-1)
      if (!first || !head) return null
      // A broken stretch is never sealed: its archive would carry the break out of sight.
      let prevHash = last?.head_hash ?? GENESIS_HASH
      for (const row of rows) {
        if (row.prev_hash !== prevHash || eventHash(prevHash, auditEventOf(row)) !== row.hash) {
          throw new ConflictError('AUDIT_CHAIN_BROKEN', `The chain does not verify at seq ${String(row.seq)}; nothing was sealed.`)
        }
        prevHash = row.hash
      }
      const digest = await digestStore.signEntry(trx, tenantId, { seq: String(head.seq), hash: head.hash }, now)
      const segment: SegmentRow = {
        tenant_id: tenantId,
        segment_no: (last?.segment_no ?? 0) + 1,
        from_seq: String(first.seq),
        through_seq: String(head.seq),
        first_event_id: first.event_id,
        first_prev_hash: first.prev_hash,
        head_hash: head.hash,
        entry_count: rows.length,
        digest_no: digest.digestNo,
        archive_sha256: '',
        sealed_at: now,
      }
      segment.archive_sha256 = sha256((await build(trx, segment)).text)
      await segments(trx).insert(segment)
      return toSegment(segment)
    },

    async list(trx: Knex.Transaction): Promise<AuditSegment[]> {
      return ((await withRemoval(trx).orderBy('s.segment_no')) as SegmentRow[]).map(toSegment)
    },

    /** The archive, rebuilt from the rows, and its SHA-256; refused once removed, or if the rows changed since sealing. */
    async archive(trx: Knex.Transaction, segmentNo: number): Promise<{ segment: AuditSegment; text: string; archiveSha256: string }> {
      const segment = await find(trx, segmentNo)
      if (segment.removed_at) throw new ConflictError('AUDIT_SEGMENT_REMOVED', 'This segment was removed; its archive is wherever it was kept.')
      const { text } = await build(trx, segment)
      if (sha256(text) !== segment.archive_sha256) throw new ConflictError('AUDIT_SEGMENT_CHANGED', 'The stored entries no longer match the sealed archive; verify the chain.')
      return { segment: toSegment(segment), text, archiveSha256: segment.archive_sha256 }
    },

    /**
     * Removes a sealed segment whose archive the caller holds (its hash must match), once every
     * entry of it is past the tenant's period and while no hold is active, checking first that
     * the stored rows still are the archive. Repeating a removal changes nothing.
     */
    async remove(trx: Knex.Transaction, tenantId: string, segmentNo: number, archiveSha256: string, now = new Date()): Promise<{ segment: AuditSegment; removedEntries: number }> {
      await lockChain(trx, tenantId)
      const segment = await find(trx, segmentNo)
      const period = await retentionOf(trx, tenantId, now)
      if (segment.removed_at) return { segment: toSegment(segment), removedEntries: 0 }
      if (!sameHash(archiveSha256, segment.archive_sha256)) throw new ConflictError('AUDIT_ARCHIVE_MISMATCH', "That is not the hash of this segment's sealed archive.")
      const { text, lastOccurredAt } = await build(trx, segment)
      if (sha256(text) !== segment.archive_sha256) throw new ConflictError('AUDIT_SEGMENT_CHANGED', 'The stored entries no longer match the sealed archive; nothing was removed.')
      // Sealed under a shorter period (or by an older version of this rule): the period decides now.
      if (lastOccurredAt >= period.cutoff.getTime()) {
        const removableAfter = new Date(lastOccurredAt + (now.getTime() - period.cutoff.getTime())).toISOString()
        throw new AuditRetentionNotElapsedError(`Entries are kept ${period.retentionDays} days (the tenant's audit-log period); this segment's last entry is past it after ${removableAfter}.`, {
          retentionDays: period.retentionDays,
          removableAfter,
        })
      }
      const result = await trx.raw<{ rows: Array<{ removed: number }> }>('select compliance.remove_sealed_segment(?, ?, ?) as removed', [tenantId, segmentNo, archiveSha256])
      return { segment: toSegment(await find(trx, segmentNo)), removedEntries: result.rows[0]?.removed ?? 0 }
    },
  }
}

export type AuditSegmentStore = ReturnType<typeof createAuditSegmentStore>
