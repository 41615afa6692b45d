// Audit log segments: a stretch of a tenant's chain sealed into an archive (JSON lines in the
// export format, with a checkpoint line, the segment's entries, the signed digest of its head and
// the public keys), whose checkpoint stays in `audit_segments` for good, and which is removed from
// `audit_log` only through remove_sealed_segment() (see its migration) by whoever presents the
// archive's hash. The archive is rebuilt from the rows on demand and must hash to what was sealed.
import { createHash } from 'node:crypto'
import type { Knex } from 'knex'
import { ConflictError, NotFoundError } from '@hub/contracts'
import { EXPORT_FORMAT, GENESIS_HASH, eventHash, type SignedDigest } from './audit-chain.ts'
import { auditEventOf, toAuditEntry, type AuditLogRow } from './audit-log-store.ts'
import type { AuditDigestStore } from './audit-digest-store.ts'

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

export function toSegment(row: SegmentRow) {
  return {
    segmentNo: row.segment_no,
    fromSeq: String(row.from_seq),
    throughSeq: String(row.through_seq),
    entryCount: row.entry_count,
    firstPrevHash: row.first_prev_hash,
    headHash: row.head_hash,
    digestNo: row.digest_no,
    archiveSha256: row.archive_sha256,
    sealedAt: row.sealed_at.toISOString(),
    removedAt: row.removed_at ? row.removed_at.toISOString() : null,
  }
}
export type AuditSegment = ReturnType<typeof toSegment>

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

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

export function createAuditSegmentStore(digestStore: AuditDigestStore) {
  const segments = (trx: Knex.Transaction) => trx<SegmentRow>('compliance.audit_segments')

  const withRemoval = (trx: Knex.Transaction) =>
    trx('compliance.audit_segments as s')
      .leftJoin('compliance.audit_segment_removals as r', function () {
        this.on('r.tenant_id', 's.tenant_id').andOn('r.segment_no', 's.segment_no')
      })
      .select('s.*', 'r.removed_at')

  async function build(trx: Knex.Transaction, segment: SegmentRow): Promise<string> {
    const rows = (await trx('compliance.audit_log').where('tenant_id', segment.tenant_id).andWhere('seq', '>=', segment.from_seq).andWhere('seq', '<=', segment.through_seq).orderBy('seq')) as AuditLogRow[]
    const digests = await digestStore.covering(trx, segment.tenant_id, String(segment.from_seq), String(segment.through_seq), segment.digest_no)
    const keys = await digestStore.publicKeys(trx, [...new Set(digests.map((digest) => digest.keyId))])
    return segmentArchive(segment, rows, digests, keys)
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
     * The stretch must verify; its head gets a signed digest. Null when there is nothing to seal.
     */
    async seal(trx: Knex.Transaction, tenantId: string, before: string, maxEntries: number, now = new Date()): Promise<AuditSegment | null> {
      // Appends wait (the chain's head cannot move under the seal), and so does another seal.
      await trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`compliance.audit_log:${tenantId}`])
      const last = await segments(trx).where('tenant_id', tenantId).orderBy('segment_no', 'desc').first()
      const candidates = (await trx('compliance.audit_log')
        .where('tenant_id', tenantId)
        .andWhere('seq', '>', last?.through_seq ?? '0')
        .orderBy('seq')
        .limit(maxEntries)) as AuditLogRow[]
      const cutoff = Date.parse(before)
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
      segment.archive_sha256 = sha256(await build(trx, segment))
      await segments(trx).insert(segment)
      return toSegment(segment)
    },

    async list(trx: Knex.Transaction): Promise<AuditSegment[]> {
      return ((await withRemoval(trx).orderBy('s.segment_no')) as SegmentRow[]).map(toSegment)
    },

    /** The archive, rebuilt from the rows; refused once removed, or if the rows changed since sealing. */
    async archive(trx: Knex.Transaction, segmentNo: number): Promise<{ segment: AuditSegment; text: string }> {
      const segment = await find(trx, segmentNo)
      if (segment.removed_at) throw new ConflictError('AUDIT_SEGMENT_REMOVED', 'This segment was removed; its archive is wherever it was kept.')
      const text = await build(trx, segment)
      if (sha256(text) !== segment.archive_sha256) throw new ConflictError('AUDIT_SEGMENT_CHANGED', 'The stored entries no longer match the sealed archive; verify the chain.')
      return { segment: toSegment(segment), text }
    },

    /**
     * Removes a sealed segment whose archive the caller holds (its hash must match), checking
     * first that the stored rows still are the archive. Repeating a removal changes nothing.
     */
    async remove(trx: Knex.Transaction, tenantId: string, segmentNo: number, archiveSha256: string): Promise<{ segment: AuditSegment; removedEntries: number }> {
      const segment = await find(trx, segmentNo)
      if (segment.removed_at) return { segment: toSegment(segment), removedEntries: 0 }
      if (archiveSha256 !== segment.archive_sha256) throw new ConflictError('AUDIT_ARCHIVE_MISMATCH', "That is not the hash of this segment's sealed archive.")
      const text = await build(trx, segment)
      if (sha256(text) !== segment.archive_sha256) throw new ConflictError('AUDIT_SEGMENT_CHANGED', 'The stored entries no longer match the sealed archive; nothing was removed.')
      const result = await trx.raw<{ rows: Array<{ removed: number }> }>('select compliance.remove_sealed_segment(?, ?, ?) as removed', [tenantId, segmentNo, archiveSha256])
      return { segment: toSegment(await find(trx, segmentNo)), removedEntries: result.rows[0]?.removed ?? 0 }
    },
  }
}

export type AuditSegmentStore = ReturnType<typeof createAuditSegmentStore>
