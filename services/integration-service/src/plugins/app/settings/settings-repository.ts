// Data access for integration settings: knex and nothing else. Tenant-scoped transactions in, rows out.
import type { Knex } from 'knex'
import { INTEGRATION_TABLES } from '../../../db/schema.ts'
import type { SealedTable } from '../secrets/sealed-secrets-rotation.ts'
import type { IntegrationType, SettingsValues } from './settings-registry.ts'
import { jsonb } from '@hub/service-kit'

export interface SettingsRow {
  id: string
  tenant_id: string
  venue_id: string | null
  integration_type: IntegrationType
  current_version: number
  created_at: Date
  updated_at: Date
}

export const CHANGE_KINDS = ['replace', 'patch', 'rollback', 'import'] as const
export type ChangeKind = (typeof CHANGE_KINDS)[number]

/** One key's change between two versions; secret values appear masked, never in clear. */
export interface SettingChange {
  key: string
  op: 'added' | 'changed' | 'removed'
  secret: boolean
  before: unknown
  after: unknown
}

export interface SettingsVersionRow {
  id: string
  settings_id: string
  tenant_id: string
  version: number
  values: SettingsValues
  secrets: Record<string, string>
  masked: Record<string, string>
  min_key_version: number | null
  change_kind: ChangeKind
  rolled_back_from: number | null
  changes: SettingChange[]
  created_by: string
  created_at: Date
}

export interface NewSettingsVersion {
  settingsId: string
  tenantId: string
  version: number
  values: SettingsValues
  sealed: { secrets: Record<string, string>; masked: Record<string, string>; minKeyVersion: number | null }
  kind: ChangeKind
  rolledBackFrom: number | null
  changes: SettingChange[]
  createdBy: string
}

/** Secret settings, for key rotation: every version (old ones too, since a rollback decrypts them). */
export const SETTINGS_SECRETS: SealedTable = { table: INTEGRATION_TABLES.integrationSettingsVersions, rowIdColumn: 'settings_id', label: 'Secret integration settings' }

const documents = (trx: Knex.Transaction) => trx<SettingsRow>(INTEGRATION_TABLES.integrationSettings)
const versions = (trx: Knex.Transaction) => trx<SettingsVersionRow>(INTEGRATION_TABLES.integrationSettingsVersions)

export function createSettingsRepository() {
  return {
    async findDocument(trx: Knex.Transaction, venueId: string | null, type: IntegrationType): Promise<SettingsRow | null> {
      const query = documents(trx).where({ integration_type: type })
      if (venueId === null) query.whereNull('venue_id')
      else query.where({ venue_id: venueId })
      return ((await query.first()) as SettingsRow | undefined) ?? null
    },

    /** The tenant-level document and, when asked, one venue's, for the effective view. */
    async findDocuments(trx: Knex.Transaction, venueId: string | null, type: IntegrationType): Promise<SettingsRow[]> {
      const query = documents(trx).where({ integration_type: type })
      if (venueId === null) query.whereNull('venue_id')
      else query.where((scope) => scope.whereNull('venue_id').orWhere({ venue_id: venueId }))
      return (await query) as SettingsRow[]
    },

    /** Creates the scope's document when missing and locks it: writers of one scope queue here. */
    async lockOrCreate(trx: Knex.Transaction, scope: { tenantId: string; venueId: string | null; type: IntegrationType }): Promise<SettingsRow> {
      await trx.raw('insert into integration.integration_settings (tenant_id, venue_id, integration_type) values (?, ?, ?) on conflict on constraint integration_settings_scope_unique do nothing', [scope.tenantId, scope.venueId, scope.type])
      const query = documents(trx).where({ integration_type: scope.type })
      if (scope.venueId === null) query.whereNull('venue_id')
      else query.where({ venue_id: scope.venueId })
      return (await query.forUpdate().first()) as SettingsRow
    },

    async findVersion(trx: Knex.Transaction, settingsId: string, version: number): Promise<SettingsVersionRow | null> {
      return ((await versions(trx).where({ settings_id: settingsId, version }).first()) as SettingsVersionRow | undefined) ?? null
    },

    async findVersions(trx: Knex.Transaction, pairs: Array<{ settingsId: string; version: number }>): Promise<SettingsVersionRow[]> {
      if (pairs.length === 0) return []
      return (await versions(trx).whereIn(
        ['settings_id', 'version'],
        pairs.map((pair) => [pair.settingsId, pair.version]),
      )) as SettingsVersionRow[]
    },

    /** Newest first; `before` is exclusive. */
    async listVersions(trx: Knex.Transaction, settingsId: string, page: { before?: number; limit: number }): Promise<SettingsVersionRow[]> {
      const query = versions(trx).where({ settings_id: settingsId })
      if (page.before !== undefined) query.where('version', '<', page.before)
      return (await query.orderBy('version', 'desc').limit(page.limit)) as SettingsVersionRow[]
    },

    async insertVersion(trx: Knex.Transaction, row: NewSettingsVersion): Promise<SettingsVersionRow> {
      const [inserted] = await versions(trx)
        .insert({
          settings_id: row.settingsId,
          tenant_id: row.tenantId,
          version: row.version,
          values: jsonb(row.values),
          secrets: jsonb(row.sealed.secrets),
          masked: jsonb(row.sealed.masked),
          min_key_version: row.sealed.minKeyVersion,
          change_kind: row.kind,
          rolled_back_from: row.rolledBackFrom,
          changes: jsonb(row.changes),
          created_by: row.createdBy,
        })
        .returning('*')
      return inserted as SettingsVersionRow
    },

    async setCurrentVersion(trx: Knex.Transaction, settingsId: string, version: number): Promise<SettingsRow> {
      const [row] = await documents(trx).where({ id: settingsId }).update({ current_version: version, updated_at: trx.fn.now() }).returning('*')
      return row as SettingsRow
    },
  }
}

export type SettingsRepository = ReturnType<typeof createSettingsRepository>
