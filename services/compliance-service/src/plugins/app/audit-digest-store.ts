// Signed digests of tenants' audit chain heads, and the public keys that verify them. A tenant's
// digests form a chain of their own (each holds the hash of the one before), so removing or
// replacing a digest is as visible as changing an entry.
import type { Knex } from 'knex'
import type { PublicSigningKey, SigningKeyRing } from '@hub/crypto'
import { GENESIS_HASH, digestHashOf, digestMessage, payloadOf, type SignedDigest } from './audit-chain.ts'

interface DigestRow {
  tenant_id: string
  digest_no: number
  head_seq: string
  head_hash: string
  previous_digest_hash: string
  signed_at: Date
  key_id: string
  payload: string
  digest_hash: string
  signature: string
}

interface KeyRow {
  key_id: string
  algorithm: 'Ed25519'
  public_key_pem: string
  first_seen_at: Date
}

function toDigest(row: DigestRow): SignedDigest {
  // The payload column holds the signed bytes; the answer is read from it so it is exactly what was signed.
  const payload = JSON.parse(row.payload) as ReturnType<typeof payloadOf>
  return {
    tenantId: payload.tenantId,
    digestNo: payload.digestNo,
    headSeq: payload.headSeq,
    headHash: payload.headHash,
    previousDigestHash: payload.previousDigestHash,
    signedAt: payload.signedAt,
    keyId: payload.keyId,
    digestHash: row.digest_hash,
    signature: row.signature,
  }
}

export function createAuditDigestStore(ring: SigningKeyRing) {
  const digests = (trx: Knex.Transaction) => trx<DigestRow>('compliance.audit_digests')

  // Two replicas signing at once would both take the same digest number: one waits here.
  const lockDigests = (trx: Knex.Transaction, tenantId: string) => trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`compliance.audit_digests:${tenantId}`])

  async function sign(trx: Knex.Transaction, tenantId: string, head: { seq: string; hash: string }, last: DigestRow | undefined, now: Date): Promise<SignedDigest> {
    const unsigned = payloadOf({ tenantId, digestNo: (last?.digest_no ?? 0) + 1, headSeq: head.seq, headHash: head.hash, previousDigestHash: last?.digest_hash ?? GENESIS_HASH, signedAt: now.toISOString(), keyId: ring.currentKeyId })
    const message = digestMessage(unsigned)
    const { signature } = ring.sign(message)
    const digestHash = digestHashOf(message)
    await digests(trx).insert({
      tenant_id: tenantId,
      digest_no: unsigned.digestNo,
      head_seq: unsigned.headSeq,
      head_hash: unsigned.headHash,
      previous_digest_hash: unsigned.previousDigestHash,
      signed_at: now,
      key_id: unsigned.keyId,
      payload: message,
      digest_hash: digestHash,
      signature,
    })
    return { ...unsigned, digestHash, signature }
  }
  return {
    /** Records the ring's public keys (system scope); a key seen before is left as it is. */
    async registerKeys(trx: Knex.Transaction): Promise<void> {
      const rows = ring.publicKeys.map((key) => ({ key_id: key.keyId, algorithm: key.algorithm, public_key_pem: key.publicKeyPem }))
      await trx('compliance.audit_signing_keys').insert(rows).onConflict('key_id').ignore()
    },

    /** Every key that ever signed or may sign, oldest first: rotated-out keys stay listed. */
    async publicKeys(trx: Knex.Transaction, keyIds?: string[]): Promise<Array<PublicSigningKey & { firstSeenAt: string; current: boolean }>> {
      const query = trx<KeyRow>('compliance.audit_signing_keys')
        .select('*')
        .orderBy([{ column: 'first_seen_at' }, { column: 'key_id' }])
      if (keyIds) query.whereIn('key_id', keyIds)
      return (await query).map((row) => ({ keyId: row.key_id, algorithm: row.algorithm, publicKeyPem: row.public_key_pem, firstSeenAt: row.first_seen_at.toISOString(), current: row.key_id === ring.currentKeyId }))
    },

    /**
     * Signs the tenant's chain head (call inside `withTenant`). Returns the new digest, or null
     * when the head is the one the last digest signed already (or the chain is empty).
     */
    async signHead(trx: Knex.Transaction, tenantId: string, now = new Date()): Promise<SignedDigest | null> {
      await lockDigests(trx, tenantId)
      const head = (await trx('compliance.audit_log').where('tenant_id', tenantId).orderBy('seq', 'desc').first('seq', 'hash')) as { seq: string; hash: string } | undefined
      if (!head) return null
      const last = await digests(trx).where('tenant_id', tenantId).orderBy('digest_no', 'desc').first()
      if (last && String(last.head_seq) === String(head.seq)) return null
      return sign(trx, tenantId, { seq: String(head.seq), hash: head.hash }, last, now)
    },

    /**
     * A digest whose head is the given entry (a sealed segment's last one): an existing digest of
     * exactly that head, or a new one. Call inside `withTenant`.
     */
    async signEntry(trx: Knex.Transaction, tenantId: string, entry: { seq: string; hash: string }, now = new Date()): Promise<SignedDigest> {
      await lockDigests(trx, tenantId)
      const existing = await digests(trx).where({ tenant_id: tenantId, head_seq: entry.seq, head_hash: entry.hash }).orderBy('digest_no').first()
      if (existing) return toDigest(existing)
      const last = await digests(trx).where('tenant_id', tenantId).orderBy('digest_no', 'desc').first()
      return sign(trx, tenantId, entry, last, now)
    },

    /** The tenant's newest digest, or null when none was signed yet. */
    async newest(trx: Knex.Transaction, tenantId: string): Promise<SignedDigest | null> {
      const row = await digests(trx).where('tenant_id', tenantId).orderBy('digest_no', 'desc').first()
      return row ? toDigest(row) : null
    },

    /** The tenant's digests newest first, before a digest number (the cursor). */
    async list(trx: Knex.Transaction, filter: { beforeNo?: number; limit: number }): Promise<SignedDigest[]> {
      const query = digests(trx).select('*')
      if (filter.beforeNo !== undefined) query.where('digest_no', '<', filter.beforeNo)
      return (await query.orderBy('digest_no', 'desc').limit(filter.limit)).map(toDigest)
    },

    /** Digests whose head lies in [fromSeq, toSeq], oldest first (what an export can check); up to a digest number when given. */
    async covering(trx: Knex.Transaction, tenantId: string, fromSeq: string, toSeq: string, throughNo?: number): Promise<SignedDigest[]> {
      const query = digests(trx).where('tenant_id', tenantId).andWhere('head_seq', '>=', fromSeq).andWhere('head_seq', '<=', toSeq)
      if (throughNo !== undefined) query.andWhere('digest_no', '<=', throughNo)
      return (await query.orderBy('digest_no')).map(toDigest)
    },
  }
}

export type AuditDigestStore = ReturnType<typeof createAuditDigestStore>
