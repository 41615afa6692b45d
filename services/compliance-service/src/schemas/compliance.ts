import { Type, type Static } from '@sinclair/typebox'
import { StringEnum, ENTITY_NAMES, PROVIDER_NAMES, ProblemSchema, SECURITY_EVENT_TYPES, SEVERITIES, SYNC_STATUSES, UuidString, Nullable, VenueReconciliationStatusSchema } from '@hub/contracts'

const DateTime = Type.String({ format: 'date-time' })

export const Counts = Type.Object({ fetched: Type.Integer(), created: Type.Integer(), updated: Type.Integer(), unchanged: Type.Integer(), deleted: Type.Integer(), failed: Type.Integer() })

export const StoredSyncLogSchema = Type.Object({
  id: UuidString,
  venueId: UuidString,
  connectionId: UuidString,
  provider: Type.String(),
  entity: Type.String(),
  mode: Type.String(),
  trigger: Type.String(),
  status: Type.String(),
  startedAt: Nullable(DateTime),
  finishedAt: Nullable(DateTime),
  counts: Counts,
  errorCode: Nullable(Type.String()),
  errorMessage: Nullable(Type.String()),
  createdAt: DateTime,
  updatedAt: DateTime,
})

export const VenueParams = Type.Object({ venueId: UuidString }, { additionalProperties: false })

export const SyncLogListQuery = Type.Object(
  {
    provider: Type.Optional(StringEnum(PROVIDER_NAMES)),
    status: Type.Optional(StringEnum(SYNC_STATUSES)),
    entity: Type.Optional(StringEnum(ENTITY_NAMES)),
    from: Type.Optional(DateTime),
    to: Type.Optional(DateTime),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
)
export type SyncLogListQueryType = Static<typeof SyncLogListQuery>

export const SyncLogListSchema = Type.Object({ data: Type.Array(StoredSyncLogSchema), nextCursor: Nullable(Type.String()) })

export const ReportQuery = Type.Object({ from: DateTime, to: DateTime }, { additionalProperties: false })

export const ReportSchema = Type.Object({
  venueId: UuidString,
  from: DateTime,
  to: DateTime,
  generatedAt: DateTime,
  totalRuns: Type.Integer(),
  runsByProvider: Type.Record(Type.String(), Type.Object({ total: Type.Integer(), byStatus: Type.Record(Type.String(), Type.Integer()) })),
  recordsMoved: Type.Record(Type.String(), Counts),
  /** Runs of the period that failed or were partial, all of them (the list below may stop short). */
  totalFailures: Type.Integer(),
  /**
   * Whether `failures` stops short of totalFailures: it lists the period's first ones, oldest
   * first, up to a bound; GET …/venues/:venueId/sync-logs?status=failed (or partial) pages them all.
   */
  failuresTruncated: Type.Boolean(),
  failures: Type.Array(
    Type.Object({ syncLogId: UuidString, provider: Type.String(), entity: Type.String(), status: Type.String(), errorCode: Nullable(Type.String()), errorMessage: Nullable(Type.String()), finishedAt: Nullable(DateTime) }),
  ),
  lastSuccessByProvider: Type.Record(Type.String(), Nullable(DateTime)),
  /**
   * The latest full reconciliation of each (connection, entity) of the venue, as integration-service
   * reports it now (not limited to the period); null when integration-service could not be asked.
   */
  reconciliation: Type.Optional(Nullable(Type.Object({ entries: VenueReconciliationStatusSchema.properties.entries }, { additionalProperties: false }))),
})
export type Report = Static<typeof ReportSchema>

export const SecurityEventSchema = Type.Object({
  id: UuidString,
  tenantId: Nullable(Type.String()),
  type: StringEnum(SECURITY_EVENT_TYPES),
  severity: StringEnum(SEVERITIES),
  source: Type.String(),
  code: Type.String(),
  actor: Nullable(Type.String()),
  ip: Nullable(Type.String()),
  method: Nullable(Type.String()),
  path: Nullable(Type.String()),
  requestId: Nullable(Type.String()),
  details: Type.Record(Type.String(), Type.Unknown()),
  /** When the first refusal this event stands for happened. */
  occurredAt: DateTime,
  /** Refusals of one caller with one code within the reporter's window, stored once. */
  count: Type.Integer({ minimum: 1 }),
  firstSeenAt: DateTime,
  lastSeenAt: DateTime,
  receivedAt: DateTime,
  resolvedAt: Nullable(DateTime),
  resolvedBy: Nullable(Type.String()),
  resolutionNote: Nullable(Type.String()),
})

export const SecurityEventListQuery = Type.Object(
  {
    open: Type.Optional(Type.Boolean()),
    type: Type.Optional(StringEnum(SECURITY_EVENT_TYPES)),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
    /**
     * `tenant` (default): the caller's tenant. `system`: refusals that belong to no tenant
     * (anonymous callers, unknown services), for admins of the operator tenants only.
     */
    scope: Type.Optional(StringEnum(['tenant', 'system'] as const)),
  },
  { additionalProperties: false },
)

export const ResolveBody = Type.Object({ note: Type.Optional(Type.String({ maxLength: 2000 })) }, { additionalProperties: false })
export const EventParams = Type.Object({ id: UuidString }, { additionalProperties: false })

// 413: a body past the service's limit; 503: the database unreachable (the error handler's answers).
export const Problems = { 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema, 413: ProblemSchema, 429: ProblemSchema, 503: ProblemSchema }

export const AuditLogEntrySchema = Type.Object({
  /** Position in the log; the chain runs in this order within a tenant. */
  seq: Type.String({ pattern: '^[0-9]+$' }),
  eventId: UuidString,
  source: Type.String(),
  actorType: Type.Union([Type.Literal('user'), Type.Literal('service')]),
  actorId: Type.String(),
  action: Type.String(),
  entityType: Type.String(),
  entityId: Type.String(),
  before: Type.Unknown(),
  after: Type.Unknown(),
  requestId: Nullable(Type.String()),
  ip: Nullable(Type.String()),
  occurredAt: DateTime,
  recordedAt: DateTime,
  prevHash: Type.String(),
  hash: Type.String(),
})

export const AuditLogListQuery = Type.Object(
  {
    entityType: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    entityId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    action: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    actorId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
)

export const AuditLogListSchema = Type.Object({ data: Type.Array(AuditLogEntrySchema), nextCursor: Nullable(Type.String()) })

export const AuditChainVerificationSchema = Type.Object({
  ok: Type.Boolean(),
  /** Entries that fit the chain, from the first, before any break. */
  checked: Type.Integer(),
  /** Entries of archived and removed segments, crossed by their sealed checkpoints. */
  archived: Type.Integer(),
  /** The hash of the last entry that fit (the chain's head when ok). */
  headHash: Type.String(),
  firstBroken: Nullable(
    Type.Object({
      seq: Type.String(),
      /** The entry at `seq`; null when none is stored there (a signed head that is gone, or inside a removed segment). */
      eventId: Nullable(UuidString),
      reason: Type.Union([Type.Literal('hash_mismatch'), Type.Literal('chain_broken'), Type.Literal('checkpoint_mismatch'), Type.Literal('truncated'), Type.Literal('digest_mismatch')], {
        description:
          "hash_mismatch: the entry was changed; chain_broken: an entry before it was removed or reordered; checkpoint_mismatch: a removed segment's checkpoint does not start where the chain before it ends; truncated: the newest signed digest's head (`seq`) lies past the chain's end, so entries at its end were removed; digest_mismatch: the entry at the newest signed digest's head is not the one it signed, so the chain was rewritten",
      }),
      /** The signed digest whose head is missing or differs (truncated, digest_mismatch). */
      digestNo: Type.Optional(Type.Integer({ minimum: 1 })),
    }),
  ),
})

export const AuditExportQuery = Type.Object(
  {
    from: DateTime,
    to: DateTime,
    /**
     * `csv` (default): the entries that happened in [from, to). `jsonl`: one JSON object a line,
     * made for `npm run audit:verify`: a header, then the contiguous stretch of the chain from the
     * first entry that happened in the period to the last (so every link can be checked), then
     * the signed digests whose head lies in that stretch, the tenant's newest digest wherever its
     * head lies, and the public keys they name. The header names the chain's head when exported
     * (`chainHeadSeq`): when it is the export's `lastSeq`, a digest signed past it fails the
     * verifier (`truncated`).
     */
    format: Type.Optional(StringEnum(['csv', 'jsonl'] as const)),
  },
  { additionalProperties: false },
)

const Sha256Hex = Type.String({ pattern: '^[0-9a-f]{64}$' })

export const SignedDigestSchema = Type.Object({
  tenantId: UuidString,
  /** 1 for the tenant's first digest, then one more each time its head is signed. */
  digestNo: Type.Integer({ minimum: 1 }),
  headSeq: Type.String({ pattern: '^[0-9]+$' }),
  headHash: Sha256Hex,
  /** digestHash of the digest before (the genesis hash for the first): digests form a chain. */
  previousDigestHash: Sha256Hex,
  signedAt: DateTime,
  keyId: Type.String(),
  /** SHA-256 of the signed message (the canonical JSON of the fields above with `format`). */
  digestHash: Sha256Hex,
  /** Ed25519 signature of the signed message, base64. */
  signature: Type.String(),
})

export const DigestListQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }), cursor: Type.Optional(Type.String({ maxLength: 512 })) }, { additionalProperties: false })
export const DigestListSchema = Type.Object({ data: Type.Array(SignedDigestSchema), nextCursor: Nullable(Type.String()) })

export const SigningKeySchema = Type.Object({
  keyId: Type.String(),
  algorithm: Type.Literal('Ed25519'),
  /** SubjectPublicKeyInfo, PEM. */
  publicKeyPem: Type.String(),
  firstSeenAt: DateTime,
  /** Whether new digests are signed with it; rotated-out keys stay listed so old digests verify. */
  current: Type.Boolean(),
})
export const SigningKeyListSchema = Type.Object({ keys: Type.Array(SigningKeySchema) })

export const SealSegmentBody = Type.Object(
  {
    /**
     * The segment runs from the end of the last one, in chain order, up to (not including) the
     * first entry that happened at or after this instant. Not in the future, and not later than
     * now minus the tenant's audit-log period (409 AUDIT_RETENTION_NOT_ELAPSED names the latest).
     */
    before: DateTime,
  },
  { additionalProperties: false },
)
export const SegmentParams = Type.Object({ segmentNo: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) }, { additionalProperties: false })
export const RemoveSegmentBody = Type.Object(
  {
    /** SHA-256 of the bytes GET …/segments/:n/archive gave (`sha256sum audit-segment-1.jsonl`): no other answer shows it before the removal. */
    archiveSha256: Sha256Hex,
  },
  { additionalProperties: false },
)

export const AuditSegmentSchema = Type.Object({
  segmentNo: Type.Integer({ minimum: 1 }),
  fromSeq: Type.String({ pattern: '^[0-9]+$' }),
  throughSeq: Type.String({ pattern: '^[0-9]+$' }),
  entryCount: Type.Integer({ minimum: 1 }),
  /** The hash the segment's first entry links to (the previous segment's head, or the genesis hash). */
  firstPrevHash: Sha256Hex,
  headHash: Sha256Hex,
  /** The signed digest of the segment's head, included in its archive. */
  digestNo: Type.Integer({ minimum: 1 }),
  /**
   * SHA-256 of the archive's bytes, null until the segment is removed: removal asks for it, so only
   * someone holding the archive (from GET …/archive) can remove. Once removed, it names the archive.
   */
  archiveSha256: Nullable(Sha256Hex),
  sealedAt: DateTime,
  removedAt: Nullable(DateTime),
})
export const AuditSegmentListSchema = Type.Object({ data: Type.Array(AuditSegmentSchema) })
