import { Type, type Static } from '@sinclair/typebox'
import { SigningKeyRing } from '@hub/crypto'
import { COMMON_SECRETS, CommonEnv, DatabaseEnv, parseConfig } from '@hub/service-kit'

export const ComplianceServiceEnv = Type.Object({
  ...CommonEnv,
  ...DatabaseEnv,
  COMPLIANCE_SERVICE_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3010 }),
  INTEGRATION_SERVICE_URL: Type.String({ pattern: '^https?://', default: 'http://127.0.0.1:3009' }),
  /** How often the sync-log consumer polls integration-service when it is caught up. */
  SYNC_LOG_POLL_MS: Type.Integer({ minimum: 100, default: 5_000 }),
  /** Turn the consumer loop off (e.g. API-only replicas); the admin trigger still works. */
  SYNC_LOG_CONSUMER: Type.Boolean({ default: true }),
  /** Comma-separated tenants whose admins are operators: they see tenantless security events and may trigger the global sync-log pull. None when empty. */
  OPERATOR_TENANT_IDS: Type.String({ default: '' }),
  /**
   * Ed25519 keys that sign audit digests: `{"<version>": "<base64 of a 32-byte seed>"}`; the
   * highest version signs, and every public key stays published. Unset: a key made at start-up
   * signs (its public key is kept, so what it signed stays verifiable) and a warning is logged;
   * production refuses to start without it, since each restart would sign with a new key.
   */
  AUDIT_SIGNING_KEYS: Type.Optional(Type.String({ minLength: 2 })),
  /** How often every tenant's audit chain head is signed (0: never on a timer; POST .../digests still signs). */
  AUDIT_DIGEST_INTERVAL_MS: Type.Integer({ minimum: 0, default: 3_600_000 }),
  /** The most entries one sealed audit segment holds (its archive is built in memory, and removed in one transaction). */
  AUDIT_SEGMENT_MAX_ENTRIES: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 50_000 }),
  /**
   * Where audit segments past the retention period are archived (one JSON-lines file per segment,
   * under a folder per tenant) before their entries are removed. Unset: none are removed.
   */
  AUDIT_ARCHIVE_DIR: Type.Optional(Type.String({ minLength: 1 })),
  /** How often the retention clean-up runs (0: never on a timer). */
  RETENTION_INTERVAL_MS: Type.Integer({ minimum: 0, default: 21_600_000 }),
  /** Rows one clean-up statement deletes at most, each batch its own short transaction. */
  RETENTION_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 50_000, default: 1_000 }),
  /** Pause between two batches, so the clean-up never holds the database for long. */
  RETENTION_BATCH_PAUSE_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 50 }),
  /** How often the data-subject request runner looks for open requests (0: it never runs here, e.g. an API-only replica). */
  SUBJECT_REQUEST_POLL_MS: Type.Integer({ minimum: 0, default: 1_000 }),
  /** How long a runner holds a request before another may take it over (a crashed runner's request resumes after this). */
  SUBJECT_REQUEST_LEASE_MS: Type.Integer({ minimum: 1_000, default: 60_000 }),
  /** Attempts before a subject request ends failed. */
  SUBJECT_REQUEST_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 50, default: 5 }),
})
export type ComplianceServiceConfig = Static<typeof ComplianceServiceEnv>

export const loadConfig = (env: NodeJS.ProcessEnv = process.env): ComplianceServiceConfig =>
  parseConfig(ComplianceServiceEnv, env, {
    secrets: [...COMMON_SECRETS, 'AUDIT_SIGNING_KEYS'],
    refine: (config) => {
      if (config.AUDIT_SIGNING_KEYS === undefined) {
        return config.NODE_ENV === 'production' ? ['AUDIT_SIGNING_KEYS: required in production (digests must be signed by a kept key)'] : []
      }
      try {
        SigningKeyRing.fromEnv(String(config.AUDIT_SIGNING_KEYS))
        return []
      } catch (error) {
        return [(error as Error).message.replace(/^AUDIT_SIGNING_KEYS is invalid: /, 'AUDIT_SIGNING_KEYS: ')]
      }
    },
  })
