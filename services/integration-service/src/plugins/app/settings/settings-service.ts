// Integration settings rules. A document per (tenant, venue or tenant-wide, integration type); a
// venue's document overrides the tenant's key by key. Every accepted write is a new version (older
// ones are kept), checked against the type's schema first, with secret keys encrypted and every
// change audited in the same transaction. Secret keys are write-only: a write that does not
// mention one keeps it, `null` removes any key.
import { BadRequestError, ServiceUnavailableError, UUID_PATTERN, type ValidationIssue, type VenueClient } from '@hub/contracts'
import { decryptSecret, encryptSecret, envelopeKeyVersion, maskSecret, type KeyRing } from '@hub/crypto'
import { auditActor, hasRole, page, readCursor, type AuditOutbox, type Database, type RequestContext } from '@hub/service-kit'
import { Type } from '@sinclair/typebox'
import type { Knex } from 'knex'
import { EXPORT_FORMAT, describeTypes, isIntegrationType, isKnownKey, isSecretKey, validateSettings, type IntegrationType, type SettingsOf, type SettingsValues } from './settings-registry.ts'
import type { ChangeKind, SettingChange, SettingsRepository, SettingsRow, SettingsVersionRow } from './settings-repository.ts'
import { VenueNotFoundError } from '../connections/connection-errors.ts'
import { assertVenueAccess } from '../connections/venue-access.ts'
import {
  ImportTypeMismatchError,
  IntegrationTypeNotFoundError,
  NotASecretSettingError,
  SecretSettingNotFoundError,
  SettingsAccessDeniedError,
  SettingsInvalidError,
  SettingsVersionConflictError,
  SettingsVersionNotFoundError,
} from './settings-errors.ts'

export interface SettingsScope {
  type: IntegrationType
  /** null: the tenant-wide document. */
  venueId: string | null
}

/** What listeners hear after a change committed; never carries a value, secret or not. */
export interface SettingsChangeEvent {
  tenantId: string
  venueId: string | null
  type: IntegrationType
  version: number
  action: 'updated' | 'rolled_back' | 'imported'
  changedKeys: string[]
}
export type SettingsChangeListener = (event: SettingsChangeEvent) => void | Promise<void>

export interface SettingsDocumentView {
  type: IntegrationType
  venueId: string | null
  scope: 'tenant' | 'venue'
  version: number
  /** Secret keys appear masked. */
  settings: SettingsValues
  secretKeys: string[]
  updatedAt: string | null
  updatedBy: string | null
}
export type SettingsWriteView = SettingsDocumentView & { changes: SettingChange[] }

export interface SettingsEffectiveView {
  type: IntegrationType
  venueId: string | null
  settings: SettingsValues
  secretKeys: string[]
  sources: Record<string, 'tenant' | 'venue'>
  versions: { tenant: number; venue: number | null }
}

export interface SettingsVersionSummary {
  version: number
  kind: ChangeKind
  rolledBackFrom: number | null
  createdBy: string
  createdAt: string
  changes: SettingChange[]
}
export type SettingsVersionView = SettingsVersionSummary & { type: IntegrationType; venueId: string | null; settings: SettingsValues; secretKeys: string[] }

export interface SettingsExport {
  format: typeof EXPORT_FORMAT
  type: IntegrationType
  venueId: string | null
  version: number
  exportedAt: string
  settings: SettingsValues
  /** Secret keys set at this scope but left out of the file. */
  omittedSecrets: string[]
}

export interface SettingsImport {
  type?: string | undefined
  settings: Record<string, unknown>
}

interface PlainDocument {
  values: SettingsValues
  /** Decrypted: only ever in memory, for the time of one call. */
  secrets: Record<string, string>
}

const UUID = new RegExp(UUID_PATTERN)
const VersionCursor = Type.Object({ v: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) })
const EMPTY: PlainDocument = { values: {}, secrets: {} }

const sorted = <T>(record: Record<string, T>): Record<string, T> => Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)))
const pointer = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1')
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

export function createSettingsService(deps: { db: Pick<Database, 'withTenant'>; repo: SettingsRepository; ring: KeyRing; audit: AuditOutbox; venues: Pick<VenueClient, 'getVenue'>; logger?: { warn(obj: object, msg?: string): void } }) {
  const { db, repo, ring, audit } = deps
  const listeners = new Set<SettingsChangeListener>()
  const aad = (tenantId: string, settingsId: string, key: string) => ({ tenantId, rowId: settingsId, field: key })

  function scopeOf(type: string, venueId: string | null | undefined): SettingsScope {
    if (!isIntegrationType(type)) throw new IntegrationTypeNotFoundError()
    if (venueId === undefined || venueId === null) return { type, venueId: null }
    if (!UUID.test(venueId)) throw new BadRequestError('VALIDATION_FAILED', 'The venue id must be a UUID.', { errors: [{ path: '/querystring/venueId', message: 'must be a UUID' }] })
    return { type, venueId: venueId.toLowerCase() }
  }

  // Venue-scoped settings follow the rule of every venue object (venue-access.ts): a venue the
  // caller may not read answers 404, as if it had no settings at all.
  function assertReadable(ctx: RequestContext, scope: SettingsScope): void {
    if (scope.venueId !== null) assertVenueAccess(ctx.principal, scope.venueId, 'read', () => new VenueNotFoundError())
  }

  function assertWritable(ctx: RequestContext, scope: SettingsScope): void {
    if (scope.venueId === null) {
      if (!hasRole(ctx.principal, 'admin')) throw new SettingsAccessDeniedError('Only admins change tenant-wide settings.')
    } else {
      assertVenueAccess(
        ctx.principal,
        scope.venueId,
        'manage',
        () => new VenueNotFoundError(),
        () => new SettingsAccessDeniedError('Your role does not allow you to change the settings of this venue.'),
      )
    }
  }

  /** A document for a venue that is not one of the tenant's would be an orphan nobody could see. */
  async function assertVenueExists(tenantId: string, scope: SettingsScope): Promise<void> {
    if (scope.venueId === null) return
    const venue = await deps.venues.getVenue(tenantId, scope.venueId).catch((error: unknown) => {
      deps.logger?.warn({ err: { message: (error as Error).message } }, 'venue-service lookup failed')
      throw new ServiceUnavailableError('VENUE_SERVICE_UNAVAILABLE', 'venue-service could not be reached to check the venue.')
    })
    if (!venue) throw new VenueNotFoundError()
  }

  function seal(tenantId: string, settingsId: string, secrets: Record<string, string>) {
    const sealed: Record<string, string> = {}
    const masked: Record<string, string> = {}
    for (const [key, value] of Object.entries(secrets)) {
      sealed[key] = encryptSecret(ring, value, aad(tenantId, settingsId, key))
      masked[key] = maskSecret(value)
    }
    const versions = Object.values(sealed).map((envelope) => envelopeKeyVersion(envelope))
    return { secrets: sealed, masked, minKeyVersion: versions.length > 0 ? Math.min(...versions) : null }
  }

  function open(row: SettingsVersionRow | null): PlainDocument {
    if (!row) return EMPTY
    const secrets: Record<string, string> = {}
    for (const [key, envelope] of Object.entries(row.secrets)) secrets[key] = decryptSecret(ring, envelope, aad(row.tenant_id, row.settings_id, key))
    return { values: row.values, secrets }
  }

  /** Unknown keys and wrong types, before anything is touched. `null` (remove) is fine for any known key. */
  function checkInput(type: IntegrationType, input: Record<string, unknown>, prefix: string): void {
    const present = Object.fromEntries(Object.entries(input).filter(([, value]) => value !== null))
    const issues: ValidationIssue[] = validateSettings(type, present, prefix)
    for (const [key, value] of Object.entries(input)) {
      if (value === null && !isKnownKey(type, key)) issues.push({ path: `${prefix}/${pointer(key)}`, message: 'is not a setting of this integration type' })
    }
    if (issues.length > 0) throw new SettingsInvalidError(issues)
  }

  /** PUT and import: non-secret keys become exactly the input's; secrets not mentioned are kept. */
  function replaced(type: IntegrationType, current: PlainDocument, input: Record<string, unknown>): PlainDocument {
    const values: SettingsValues = {}
    const secrets = { ...current.secrets }
    for (const [key, value] of Object.entries(input)) {
      if (isSecretKey(type, key)) {
        if (value === null) delete secrets[key]
        else secrets[key] = value as string
      } else if (value !== null) values[key] = value
    }
    return { values, secrets }
  }

  /** PATCH: keys given are set, `null` removes, everything else is kept. */
  function patched(type: IntegrationType, current: PlainDocument, input: Record<string, unknown>): PlainDocument {
    const values = { ...current.values }
    const secrets = { ...current.secrets }
    for (const [key, value] of Object.entries(input)) {
      const target: Record<string, unknown> = isSecretKey(type, key) ? secrets : values
      if (value === null) delete target[key]
      else target[key] = value
    }
    return { values, secrets }
  }

  function diff(type: IntegrationType, before: PlainDocument, after: PlainDocument): SettingChange[] {
    const keys = new Set([...Object.keys(before.values), ...Object.keys(before.secrets), ...Object.keys(after.values), ...Object.keys(after.secrets)])
    const changes: SettingChange[] = []
    for (const key of [...keys].sort()) {
      const secret = isSecretKey(type, key)
      const was = secret ? before.secrets[key] : before.values[key]
      const now = secret ? after.secrets[key] : after.values[key]
      if (same(was, now)) continue
      const shown = (value: unknown) => (value === undefined ? null : secret ? maskSecret(value as string) : value)
      changes.push({ key, op: was === undefined ? 'added' : now === undefined ? 'removed' : 'changed', secret, before: shown(was), after: shown(now) })
    }
    return changes
  }

  /** The audit image of a version: non-secret values, and only the names of secret keys. */
  function auditImage(scope: SettingsScope, version: number, row: SettingsVersionRow | null) {
    return { type: scope.type, venueId: scope.venueId, version, settings: row?.values ?? {}, encryptedKeys: Object.keys(row?.secrets ?? {}).sort() }
  }

  function documentView(scope: SettingsScope, row: SettingsVersionRow | null): SettingsDocumentView {
    return {
      type: scope.type,
      venueId: scope.venueId,
      scope: scope.venueId === null ? 'tenant' : 'venue',
      version: row?.version ?? 0,
      settings: sorted({ ...(row?.values ?? {}), ...(row?.masked ?? {}) }),
      secretKeys: Object.keys(row?.masked ?? {}).sort(),
      updatedAt: row ? row.created_at.toISOString() : null,
      updatedBy: row?.created_by ?? null,
    }
  }

  function versionSummary(row: SettingsVersionRow): SettingsVersionSummary {
    return { version: row.version, kind: row.change_kind, rolledBackFrom: row.rolled_back_from, createdBy: row.created_by, createdAt: row.created_at.toISOString(), changes: row.changes }
  }

  async function currentRow(trx: Knex.Transaction, scope: SettingsScope): Promise<{ document: SettingsRow | null; row: SettingsVersionRow | null }> {
    const document = await repo.findDocument(trx, scope.venueId, scope.type)
    if (!document || document.current_version === 0) return { document, row: null }
    return { document, row: await repo.findVersion(trx, document.id, document.current_version) }
  }

  /** The tenant's and (when asked) the venue's current versions, for the merged view. */
  async function layers(trx: Knex.Transaction, scope: SettingsScope) {
    const documents = await repo.findDocuments(trx, scope.venueId, scope.type)
    const rows = await repo.findVersions(
      trx,
      documents.filter((document) => document.current_version > 0).map((document) => ({ settingsId: document.id, version: document.current_version })),
    )
    const layer = (venueId: string | null) => {
      const document = documents.find((candidate) => candidate.venue_id === venueId)
      return { version: document?.current_version ?? 0, row: rows.find((row) => row.settings_id === document?.id) ?? null }
    }
    return { tenant: layer(null), venue: scope.venueId === null ? null : layer(scope.venueId) }
  }

  async function notify(event: SettingsChangeEvent): Promise<void> {
    for (const listener of listeners) {
      try {
        await listener(event)
      } catch (error) {
        // The change is committed; a listener failing must not turn it into an error for the caller.
        deps.logger?.warn({ type: event.type, version: event.version, err: { message: (error as Error).message } }, 'settings change listener failed')
      }
    }
  }

  async function commit(
    ctx: RequestContext,
    scope: SettingsScope,
    change: {
      kind: ChangeKind
      expectedVersion: number | undefined
      next: (current: PlainDocument, at: { trx: Knex.Transaction; document: SettingsRow }) => Promise<{ document: PlainDocument; rolledBackFrom?: number }>
    },
  ): Promise<SettingsWriteView> {
    assertWritable(ctx, scope)
    const tenantId = ctx.principal.tenantId
    await assertVenueExists(tenantId, scope)
    const action = change.kind === 'rollback' ? 'rolled_back' : change.kind === 'import' ? 'imported' : 'updated'
    const { view, event } = await db.withTenant(tenantId, async (trx) => {
      const document = await repo.lockOrCreate(trx, { tenantId, venueId: scope.venueId, type: scope.type })
      if (change.expectedVersion !== undefined && change.expectedVersion !== document.current_version) {
        throw new SettingsVersionConflictError(change.expectedVersion, document.current_version)
      }
      const previous = document.current_version > 0 ? await repo.findVersion(trx, document.id, document.current_version) : null
      const current = open(previous)
      const { document: next, rolledBackFrom } = await change.next(current, { trx, document })
      // Also guards rollbacks to a version written under an older, looser schema.
      const issues = validateSettings(scope.type, { ...next.values, ...next.secrets }, '/settings')
      if (issues.length > 0) throw new SettingsInvalidError(issues)
      const changes = diff(scope.type, current, next)
      const version = document.current_version + 1
      const row = await repo.insertVersion(trx, {
        settingsId: document.id,
        tenantId,
        version,
        values: sorted(next.values),
        sealed: seal(tenantId, document.id, next.secrets),
        kind: change.kind,
        rolledBackFrom: rolledBackFrom ?? null,
        changes,
        createdBy: ctx.principal.userId,
      })
      await repo.setCurrentVersion(trx, document.id, version)
      const changedKeys = changes.map((entry) => entry.key)
      await audit.record(trx, {
        ...auditActor(ctx),
        action: `settings.${action}`,
        entityType: 'integration_settings',
        entityId: document.id,
        before: previous ? auditImage(scope, previous.version, previous) : undefined,
        after: { ...auditImage(scope, version, row), changedKeys, ...(rolledBackFrom !== undefined ? { rolledBackFrom } : {}) },
      })
      const event: SettingsChangeEvent = { tenantId, venueId: scope.venueId, type: scope.type, version, action, changedKeys }
      return { view: { ...documentView(scope, row), changes }, event }
    })
    await notify(event)
    return view
  }

  return {
    types: describeTypes,

    /** Called after every committed change (the sync engine reschedules); returns an unsubscribe. */
    onChange(listener: SettingsChangeListener): () => void {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },

    /**
     * In-process, for the sync engine: the tenant's settings overlaid key by key by the venue's
     * (`venueId` null: the tenant's alone), secrets decrypted. Keys never set are absent. Never
     * send the result to a client or a log; a tampered envelope throws DecryptionError.
     */
    async effective<T extends IntegrationType>(tenantId: string, venueId: string | null, type: T): Promise<SettingsOf<T>> {
      if (!UUID.test(tenantId)) throw new BadRequestError('VALIDATION_FAILED', 'The tenant id must be a UUID.')
      const scope = scopeOf(type, venueId)
      const { tenant, venue } = await db.withTenant(tenantId.toLowerCase(), (trx) => layers(trx, scope))
      const base = open(tenant.row)
      const own = open(venue?.row ?? null)
      return { ...base.values, ...base.secrets, ...own.values, ...own.secrets } as SettingsOf<T>
    },

    async get(ctx: RequestContext, type: string, venueId: string | undefined): Promise<SettingsDocumentView> {
      const scope = scopeOf(type, venueId)
      assertReadable(ctx, scope)
      const { row } = await db.withTenant(ctx.principal.tenantId, (trx) => currentRow(trx, scope))
      return documentView(scope, row)
    },

    async effectiveView(ctx: RequestContext, type: string, venueId: string | undefined): Promise<SettingsEffectiveView> {
      const scope = scopeOf(type, venueId)
      assertReadable(ctx, scope)
      const { tenant, venue } = await db.withTenant(ctx.principal.tenantId, (trx) => layers(trx, scope))
      const settings: SettingsValues = {}
      const sources: Record<string, 'tenant' | 'venue'> = {}
      const secretKeys = new Set<string>()
      for (const [source, row] of [
        ['tenant', tenant.row],
        ['venue', venue?.row ?? null],
      ] as const) {
        for (const [key, value] of Object.entries({ ...(row?.values ?? {}), ...(row?.masked ?? {}) })) {
          settings[key] = value
          sources[key] = source
          if (row && Object.hasOwn(row.masked, key)) secretKeys.add(key)
          else secretKeys.delete(key)
        }
      }
      return { type: scope.type, venueId: scope.venueId, settings: sorted(settings), secretKeys: [...secretKeys].sort(), sources: sorted(sources), versions: { tenant: tenant.version, venue: venue ? venue.version : null } }
    },

    /** Replaces the scope's document (secrets not mentioned are kept). */
    async replace(ctx: RequestContext, type: string, venueId: string | undefined, input: { settings: Record<string, unknown>; expectedVersion?: number | undefined }): Promise<SettingsWriteView> {
      const scope = scopeOf(type, venueId)
      assertWritable(ctx, scope)
      checkInput(scope.type, input.settings, '/body/settings')
      return commit(ctx, scope, { kind: 'replace', expectedVersion: input.expectedVersion, next: async (current) => ({ document: replaced(scope.type, current, input.settings) }) })
    },

    /** Sets the keys given; `null` removes a key. */
    async patch(ctx: RequestContext, type: string, venueId: string | undefined, input: { settings: Record<string, unknown>; expectedVersion?: number | undefined }): Promise<SettingsWriteView> {
      const scope = scopeOf(type, venueId)
      assertWritable(ctx, scope)
      checkInput(scope.type, input.settings, '/body/settings')
      return commit(ctx, scope, { kind: 'patch', expectedVersion: input.expectedVersion, next: async (current) => ({ document: patched(scope.type, current, input.settings) }) })
    },

    async listVersions(ctx: RequestContext, type: string, venueId: string | undefined, paging: { limit: number; cursor?: string | undefined }): Promise<{ data: SettingsVersionSummary[]; nextCursor: string | null }> {
      const scope = scopeOf(type, venueId)
      assertReadable(ctx, scope)
      let before: number | undefined
      if (paging.cursor) {
        const cursor = readCursor(paging.cursor, VersionCursor)
        before = cursor.v
      }
      const { rows, nextCursor } = await page(
        paging.limit,
        (take) =>
          db.withTenant(ctx.principal.tenantId, async (trx) => {
            const document = await repo.findDocument(trx, scope.venueId, scope.type)
            return document ? repo.listVersions(trx, document.id, { ...(before !== undefined ? { before } : {}), limit: take }) : []
          }),
        (last) => ({ v: last.version }),
      )
      return { data: rows.map(versionSummary), nextCursor }
    },

    async getVersion(ctx: RequestContext, type: string, venueId: string | undefined, version: number): Promise<SettingsVersionView> {
      const scope = scopeOf(type, venueId)
      assertReadable(ctx, scope)
      const row = await db.withTenant(ctx.principal.tenantId, async (trx) => {
        const document = await repo.findDocument(trx, scope.venueId, scope.type)
        return document ? repo.findVersion(trx, document.id, version) : null
      })
      if (!row) throw new SettingsVersionNotFoundError(version)
      const view = documentView(scope, row)
      return { ...versionSummary(row), type: scope.type, venueId: scope.venueId, settings: view.settings, secretKeys: view.secretKeys }
    },

    /** A new version equal to an older one, secrets included. */
    async rollback(ctx: RequestContext, type: string, venueId: string | undefined, version: number, expectedVersion: number | undefined): Promise<SettingsWriteView> {
      const scope = scopeOf(type, venueId)
      return commit(ctx, scope, {
        kind: 'rollback',
        expectedVersion,
        next: async (_current, { trx, document }) => {
          const target = await repo.findVersion(trx, document.id, version)
          if (!target) throw new SettingsVersionNotFoundError(version)
          return { document: open(target), rolledBackFrom: version }
        },
      })
    },

    /** The scope's current document as a file; secret keys are left out and named. */
    async exportDocument(ctx: RequestContext, type: string, venueId: string | undefined): Promise<SettingsExport> {
      const scope = scopeOf(type, venueId)
      assertReadable(ctx, scope)
      const { row } = await db.withTenant(ctx.principal.tenantId, (trx) => currentRow(trx, scope))
      return {
        format: EXPORT_FORMAT,
        type: scope.type,
        venueId: scope.venueId,
        version: row?.version ?? 0,
        exportedAt: new Date().toISOString(),
        settings: sorted(row?.values ?? {}),
        omittedSecrets: Object.keys(row?.secrets ?? {}).sort(),
      }
    },

    /** Validated like a replace; secrets in the file are encrypted, secrets it leaves out are kept. */
    async importDocument(ctx: RequestContext, type: string, venueId: string | undefined, file: SettingsImport, expectedVersion: number | undefined): Promise<SettingsWriteView> {
      const scope = scopeOf(type, venueId)
      assertWritable(ctx, scope)
      if (file.type !== undefined && file.type !== scope.type) throw new ImportTypeMismatchError(file.type, scope.type)
      checkInput(scope.type, file.settings, '/body/settings')
      return commit(ctx, scope, { kind: 'import', expectedVersion, next: async (current) => ({ document: replaced(scope.type, current, file.settings) }) })
    },

    /** One secret in clear, for an admin; audited as a credential read. */
    async readSecret(ctx: RequestContext, type: string, venueId: string | undefined, key: string): Promise<{ type: IntegrationType; venueId: string | null; key: string; version: number; value: string }> {
      const scope = scopeOf(type, venueId)
      assertReadable(ctx, scope)
      if (!isSecretKey(scope.type, key)) throw new NotASecretSettingError(key)
      return db.withTenant(ctx.principal.tenantId, async (trx) => {
        const { document, row } = await currentRow(trx, scope)
        const envelope = row?.secrets[key]
        if (!document || !row || envelope === undefined) throw new SecretSettingNotFoundError()
        const value = decryptSecret(ring, envelope, aad(row.tenant_id, row.settings_id, key))
        await audit.record(trx, {
          ...auditActor(ctx),
          action: 'settings.secret_read',
          entityType: 'integration_settings',
          entityId: document.id,
          after: { type: scope.type, venueId: scope.venueId, version: row.version, settingKey: key },
        })
        return { type: scope.type, venueId: scope.venueId, key, version: row.version, value }
      })
    },
  }
}

export type SettingsService = ReturnType<typeof createSettingsService>
