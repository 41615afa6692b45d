// Verifies an audit-log export (JSON lines, EXPORT_FORMAT) with nothing but the file and public
// keys: no database, no network. It recomputes every entry's hash and link, checks each signed
// digest's Ed25519 signature and its link to the digest before it, and holds each digest's signed
// head against the entry at that sequence number. A row changed behind the database's back fails
// its own hash; a chain rewritten from some row on (hashes recomputed by a superuser) still
// disagrees with the head a digest signed before the rewrite. An export that runs to the chain's
// head (its header's lastSeq is its chainHeadSeq) carries the newest digest: a head signed past its
// end means entries were removed from the end of the chain, or the file was cut short. Problems
// name the file's line.
import { verifySignature } from '@hub/crypto'
import { EXPORT_FORMAT, GENESIS_HASH, digestHashOf, digestMessage, eventHash, payloadOf, type ChainedEvent, type SignedDigest } from './audit-chain.ts'

export type ProblemReason = 'malformed' | 'hash_mismatch' | 'chain_broken' | 'digest_mismatch' | 'entry_missing' | 'bad_signature' | 'unknown_key' | 'key_mismatch' | 'digest_chain_broken' | 'checkpoint_mismatch' | 'truncated'

export interface VerifyProblem {
  /** 1-based line of the file. */
  line: number
  reason: ProblemReason
  message: string
  seq?: string
}

export interface ExportVerification {
  ok: boolean
  kind: string | null
  tenantId: string | null
  entries: number
  firstSeq: string | null
  lastSeq: string | null
  digestsVerified: number
  /** The highest sequence number a verified digest vouches for; entries after it are unsigned. */
  signedThroughSeq: string | null
  unsignedEntries: number
  firstProblem: VerifyProblem | null
  problems: VerifyProblem[]
  warnings: string[]
}

export interface ExportEntryLine extends ChainedEvent {
  type: 'entry'
  seq: string
  recordedAt: string
  prevHash: string
  hash: string
}

/** The archived stretch a segment's export begins after (see audit segments). */
export interface CheckpointLine {
  type: 'checkpoint'
  tenantId: string
  /** The last sequence number removed with archived segments; the first entry here links to headHash. */
  throughSeq: string
  headHash: string
}

export interface PublicKeyLine {
  keyId: string
  publicKeyPem: string
}

const HEX64 = /^[0-9a-f]{64}$/
const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value)

export function verifyAuditExport(text: string, options: { trustedKeys?: PublicKeyLine[] } = {}): ExportVerification {
  const problems: VerifyProblem[] = []
  const warnings: string[] = []
  const problem = (line: number, reason: ProblemReason, message: string, seq?: string) => problems.push({ line, reason, message, ...(seq ? { seq } : {}) })
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()

  let kind: string | null = null
  let tenantId: string | null = null
  // What the header says the export holds: its last entry, and the chain's head when it was made.
  let headerLastSeq: string | null = null
  let chainHeadSeq: string | null = null
  let checkpoint: { line: number; value: CheckpointLine } | null = null
  const embeddedKeys = new Map<string, { line: number; pem: string }>()
  const entries: Array<{ line: number; value: ExportEntryLine }> = []
  const digests: Array<{ line: number; value: SignedDigest }> = []

  lines.forEach((raw, index) => {
    const line = index + 1
    let parsed: unknown
    try {
      parsed = JSON.parse(raw)
    } catch {
      problem(line, 'malformed', 'not a JSON line')
      return
    }
    if (!isObject(parsed) || typeof parsed.type !== 'string') return problem(line, 'malformed', 'not an object with a `type`')
    if (index === 0) {
      if (parsed.type !== 'header' || parsed.format !== EXPORT_FORMAT) return problem(line, 'malformed', `the first line must be the ${EXPORT_FORMAT} header`)
      kind = typeof parsed.kind === 'string' ? parsed.kind : null
      tenantId = typeof parsed.tenantId === 'string' ? parsed.tenantId : null
      headerLastSeq = typeof parsed.lastSeq === 'string' ? parsed.lastSeq : null
      chainHeadSeq = typeof parsed.chainHeadSeq === 'string' ? parsed.chainHeadSeq : null
      return
    }
    switch (parsed.type) {
      case 'entry':
        if (typeof parsed.seq !== 'string' || !/^[0-9]+$/.test(parsed.seq) || typeof parsed.prevHash !== 'string' || typeof parsed.hash !== 'string') return problem(line, 'malformed', 'an entry needs seq, prevHash and hash')
        entries.push({ line, value: parsed as unknown as ExportEntryLine })
        return
      case 'digest':
        if (typeof parsed.digestNo !== 'number' || typeof parsed.headSeq !== 'string' || typeof parsed.signature !== 'string' || typeof parsed.keyId !== 'string')
          return problem(line, 'malformed', 'a digest needs digestNo, headSeq, keyId and signature')
        digests.push({ line, value: parsed as unknown as SignedDigest })
        return
      case 'key':
        if (typeof parsed.keyId !== 'string' || typeof parsed.publicKeyPem !== 'string') return problem(line, 'malformed', 'a key needs keyId and publicKeyPem')
        embeddedKeys.set(parsed.keyId, { line, pem: parsed.publicKeyPem })
        return
      case 'checkpoint':
        if (checkpoint || entries.length > 0 || typeof parsed.throughSeq !== 'string' || typeof parsed.headHash !== 'string' || !HEX64.test(parsed.headHash))
          return problem(line, 'malformed', 'one checkpoint, before the entries, with throughSeq and headHash')
        checkpoint = { line, value: parsed as unknown as CheckpointLine }
        return
      default:
        return problem(line, 'malformed', `unknown line type ${JSON.stringify(parsed.type).slice(0, 40)}`)
    }
  })

  // The chain: each entry's hash recomputed, each linked to the one before. After a problem the
  // walk goes on from the stored hash, so one changed row is reported once, not with everything after it.
  const startHash = (checkpoint as { value: CheckpointLine } | null)?.value.headHash ?? null
  let prevHash: string | null = startHash
  const bySeq = new Map<string, { line: number; hash: string }>()
  let lastSeq: bigint | null = null
  for (const { line, value } of entries) {
    const seq = BigInt(value.seq)
    if (tenantId && value.tenantId !== tenantId) problem(line, 'malformed', `entry of tenant ${String(value.tenantId)} in an export of ${tenantId}`, value.seq)
    if (lastSeq !== null && seq <= lastSeq) problem(line, 'chain_broken', `seq ${value.seq} does not follow seq ${lastSeq}`, value.seq)
    if (prevHash === null) {
      if (value.prevHash !== GENESIS_HASH) warnings.push(`the export starts mid-chain at seq ${value.seq} (line ${line}); what came before it is not in the file`)
    } else if (value.prevHash !== prevHash) {
      const reason = prevHash === startHash && checkpoint ? 'checkpoint_mismatch' : 'chain_broken'
      problem(line, reason, reason === 'checkpoint_mismatch' ? `seq ${value.seq} does not link to the checkpoint's head` : `seq ${value.seq} does not link to the entry before it: an entry was removed, added or reordered`, value.seq)
    }
    if (eventHash(value.prevHash, value) !== value.hash) problem(line, 'hash_mismatch', `seq ${value.seq} was changed: its content does not hash to its recorded hash`, value.seq)
    bySeq.set(value.seq, { line, hash: value.hash })
    prevHash = value.hash
    lastSeq = seq
  }
  const firstSeq = entries[0] ? BigInt(entries[0].value.seq) : null
  const afterEntries = (entries.at(-1)?.line ?? 1) + 1
  if (headerLastSeq !== null && (lastSeq === null || String(lastSeq) !== headerLastSeq)) {
    problem(afterEntries, 'truncated', `the header says the export runs through seq ${headerLastSeq}, but its last entry is ${lastSeq === null ? 'none' : `seq ${lastSeq}`}: entries at its end are missing`, headerLastSeq)
  }
  // Only then is a head signed past the last entry a loss, not a later part of the chain.
  const reachesChainHead = chainHeadSeq !== null && headerLastSeq === chainHeadSeq

  // Keys: pinned ones when given (an export's own keys prove nothing against whoever wrote it).
  const keys = new Map<string, string>()
  if (options.trustedKeys) {
    for (const key of options.trustedKeys) keys.set(key.keyId, key.publicKeyPem)
    for (const [keyId, { line, pem }] of embeddedKeys) {
      const trusted = keys.get(keyId)
      if (trusted !== undefined && trusted.trim() !== pem.trim()) problem(line, 'key_mismatch', `key ${keyId} in the file is not the published one`)
    }
  } else {
    for (const [keyId, { pem }] of embeddedKeys) keys.set(keyId, pem)
    if (embeddedKeys.size > 0) warnings.push('signatures were checked with the public keys inside the export; pin the published ones with --keys')
  }

  let digestsVerified = 0
  let signedThrough: bigint | null = null
  const verifiedByNo = new Map<number, SignedDigest>()
  for (const { line, value } of digests) {
    const message = digestMessage(payloadOf(value))
    const pem = keys.get(value.keyId)
    if (tenantId && value.tenantId !== tenantId) {
      problem(line, 'malformed', `digest of tenant ${String(value.tenantId)} in an export of ${tenantId}`)
      continue
    }
    if (pem === undefined) {
      problem(line, 'unknown_key', `digest #${value.digestNo} is signed with key ${value.keyId}, which is not among the public keys`)
      continue
    }
    if (!verifySignature(pem, message, value.signature) || digestHashOf(message) !== value.digestHash) {
      problem(line, 'bad_signature', `digest #${value.digestNo}'s signature does not verify with key ${value.keyId}: the digest was changed or forged`)
      continue
    }
    verifiedByNo.set(value.digestNo, value)
    digestsVerified++
  }
  // Heads that match their digest: a mismatch is placed after the last of them before it.
  const inExport = (seq: bigint) => firstSeq !== null && lastSeq !== null && seq >= firstSeq && seq <= lastSeq
  const confirmed = [...verifiedByNo.values()].filter((d) => inExport(BigInt(d.headSeq)) && bySeq.get(d.headSeq)?.hash === d.headHash).map((d) => BigInt(d.headSeq))
  for (const { line, value } of digests) {
    if (!verifiedByNo.has(value.digestNo)) continue
    const before = value.digestNo === 1 ? { digestHash: GENESIS_HASH } : verifiedByNo.get(value.digestNo - 1)
    if (before && before.digestHash !== value.previousDigestHash) problem(line, 'digest_chain_broken', `digest #${value.digestNo} does not link to digest #${value.digestNo - 1}`)
    const head = BigInt(value.headSeq)
    if (lastSeq !== null && head > lastSeq) {
      if (reachesChainHead) {
        problem(line, 'truncated', `digest #${value.digestNo} signed seq ${value.headSeq}, after seq ${String(chainHeadSeq)}, the chain's head when exported: entries at the end of the chain were removed`, value.headSeq)
      } else {
        warnings.push(`digest #${value.digestNo} signed seq ${value.headSeq}, after this export's last entry (seq ${lastSeq}): export through the chain's head to check it`)
      }
      continue
    }
    if (!inExport(head)) continue
    const entry = bySeq.get(value.headSeq)
    if (!entry) {
      problem(line, 'entry_missing', `digest #${value.digestNo} signed seq ${value.headSeq}, which is missing from the export: an entry was removed`, value.headSeq)
      continue
    }
    if (entry.hash !== value.headHash) {
      const earlier = confirmed.filter((seq) => seq < head)
      const after = earlier.length > 0 ? `after seq ${earlier.reduce((a, b) => (a > b ? a : b))} and ` : ''
      problem(entry.line, 'digest_mismatch', `seq ${value.headSeq} is not what digest #${value.digestNo} (line ${line}, signed ${value.signedAt}) signed: the chain was rewritten ${after}at or before this entry`, value.headSeq)
      continue
    }
    if (signedThrough === null || head > signedThrough) signedThrough = head
  }

  problems.sort((a, b) => a.line - b.line)
  const unsignedEntries = entries.filter(({ value }) => signedThrough === null || BigInt(value.seq) > signedThrough).length
  if (entries.length > 0 && signedThrough === null) warnings.push('no signed digest covers these entries: only their internal consistency was checked')
  else if (unsignedEntries > 0) warnings.push(`${unsignedEntries} entries after seq ${String(signedThrough)} are not yet covered by a signed digest`)
  return {
    ok: problems.length === 0,
    kind,
    tenantId,
    entries: entries.length,
    firstSeq: firstSeq === null ? null : String(firstSeq),
    lastSeq: lastSeq === null ? null : String(lastSeq),
    digestsVerified,
    signedThroughSeq: signedThrough === null ? null : String(signedThrough),
    unsignedEntries,
    firstProblem: problems[0] ?? null,
    problems,
    warnings,
  }
}
