// The audit chain's arithmetic, free of any database: what the service computes when it appends
// and signs, and what the offline verifier recomputes from an export. Keep it dependency-free.
import { createHash } from 'node:crypto'

export const GENESIS_HASH = '0'.repeat(64)
export const EXPORT_FORMAT = 'hub-audit-export/1'
export const DIGEST_FORMAT = 'hub-audit-digest/1'

/** JSON with keys sorted at every depth and undefined members left out: one text per value. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, inner]) => inner !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonicalJson(inner)}`).join(',')}}`
  }
  return JSON.stringify(value ?? null)
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/** The fields of an entry its hash covers (the event as auditors read it). */
export interface ChainedEvent {
  eventId: string
  tenantId: string
  source: string
  actorType: string
  actorId: string
  action: string
  entityType: string
  entityId: string
  before: unknown
  after: unknown
  requestId: string | null
  ip: string | null
  occurredAt: string
}

export const HASHED_FIELDS = ['eventId', 'tenantId', 'source', 'actorType', 'actorId', 'action', 'entityType', 'entityId', 'before', 'after', 'requestId', 'ip', 'occurredAt'] as const

/** hash = SHA-256(prev_hash "\n" canonical event). */
export function eventHash(prevHash: string, event: ChainedEvent): string {
  const hashed = Object.fromEntries(HASHED_FIELDS.map((field) => [field, event[field]]))
  return sha256(`${prevHash}\n${canonicalJson(hashed)}`)
}

/** What a digest signs: one tenant's chain head, linked to that tenant's previous digest. */
export interface DigestPayload {
  format: typeof DIGEST_FORMAT
  tenantId: string
  digestNo: number
  headSeq: string
  headHash: string
  previousDigestHash: string
  signedAt: string
  keyId: string
}

export const digestMessage = (payload: DigestPayload): string => canonicalJson(payload)
export const digestHashOf = (message: string): string => sha256(message)

/** A digest as exported and published: the payload's fields, its hash and its signature. */
export interface SignedDigest extends Omit<DigestPayload, 'format'> {
  digestHash: string
  signature: string
}

export function payloadOf(digest: Omit<SignedDigest, 'digestHash' | 'signature'>): DigestPayload {
  return { format: DIGEST_FORMAT, tenantId: digest.tenantId, digestNo: digest.digestNo, headSeq: digest.headSeq, headHash: digest.headHash, previousDigestHash: digest.previousDigestHash, signedAt: digest.signedAt, keyId: digest.keyId }
}
