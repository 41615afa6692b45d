// Data access for connections: knex and nothing else. Tenant-scoped transactions in, rows out.
import type { Knex } from 'knex'
import type { ProviderName } from '../../../providers/canonical.ts'
import type { SealedSecrets, SecretField } from './credential-vault.ts'
import { jsonb } from '@hub/service-kit'

export const CONNECTION_STATUSES = ['pending', 'active', 'error', 'needs_reauth', 'disconnected'] as const
export type ConnectionStatus = (typeof CONNECTION_STATUSES)[number]

export interface ConnectionRow {
  id: string
  tenant_id: string
  venue_id: string
  provider: ProviderName
  auth_type: 'api_key' | 'oauth2'
  status: ConnectionStatus
  status_reason: string | null
  account_id: string | null
  account_name: string | null
  secrets: Partial<Record<SecretField, string>>
  min_key_version: number | null
  masked: Partial<Record<SecretField, string>>
  token_expires_at: Date | null
  webhook_endpoint_id: string | null
  /** Non-secret provider facts later calls need, e.g. `{ dc: 'us21' }` for Mailchimp OAuth. */
  provider_meta: { dc?: string }
  created_by: string
  created_at: Date
  updated_at: Date
  disconnected_at: Date | null
}

export interface ConnectionListFilter {
  venueId?: string
  provider?: ProviderName
  status?: ConnectionStatus
  onlyVenueIds?: string[] | null
  after?: { createdAt: string; id: string }
  limit: number
}

const table = (trx: Knex.Transaction) => trx<ConnectionRow>('integration.connections')

export function createConnectionRepository() {
  return {
    async insert(trx: Knex.Transaction, row: { id: string; tenantId: string; venueId: string; provider: ProviderName; authType: ConnectionRow['auth_type']; createdBy: string; sealed: SealedSecrets }): Promise<ConnectionRow> {
      const [inserted] = await table(trx)
        .insert({
          id: row.id,
          tenant_id: row.tenantId,
          venue_id: row.venueId,
          provider: row.provider,
          auth_type: row.authType,
          status: 'pending',
          secrets: jsonb(row.sealed.secrets),
          masked: jsonb(row.sealed.masked),
          min_key_version: row.sealed.minKeyVersion,
          created_by: row.createdBy,
        })
        .returning('*')
      return inserted as ConnectionRow
    },

    async findById(trx: Knex.Transaction, id: string, options: { forUpdate?: boolean } = {}): Promise<ConnectionRow | null> {
      const query = table(trx).where({ id }).first()
      return ((await (options.forUpdate ? query.forUpdate() : query)) as ConnectionRow | undefined) ?? null
    },

    async findLive(trx: Knex.Transaction, venueId: string, provider: ProviderName): Promise<ConnectionRow | null> {
      return ((await table(trx).where({ venue_id: venueId, provider }).whereNot('status', 'disconnected').first()) as ConnectionRow | undefined) ?? null
    },

    async listLiveForVenue(trx: Knex.Transaction, venueId: string): Promise<ConnectionRow[]> {
      return (await table(trx).where({ venue_id: venueId }).whereNot('status', 'disconnected').orderBy('created_at')) as ConnectionRow[]
    },

    async list(trx: Knex.Transaction, filter: ConnectionListFilter): Promise<ConnectionRow[]> {
      const query = table(trx).select('*')
      if (filter.venueId) query.where('venue_id', filter.venueId)
      if (filter.provider) query.where('provider', filter.provider)
      if (filter.status) query.where('status', filter.status)
      if (filter.onlyVenueIds) query.whereIn('venue_id', filter.onlyVenueIds)
      if (filter.after) query.whereRaw('(created_at, id) > (?::timestamptz, ?::uuid)', [filter.after.createdAt, filter.after.id])
      return (await query.orderBy([{ column: 'created_at' }, { column: 'id' }]).limit(filter.limit)) as ConnectionRow[]
    },

    async update(
      trx: Knex.Transaction,
      id: string,
      changes: Partial<{ status: ConnectionStatus; statusReason: string | null; accountId: string | null; accountName: string | null; sealed: SealedSecrets; tokenExpiresAt: Date | null; webhookEndpointId: string | null; disconnectedAt: Date | null; providerMeta: ConnectionRow['provider_meta'] }>,
    ): Promise<ConnectionRow> {
      const patch: Record<string, unknown> = { updated_at: trx.fn.now() }
      if (changes.status !== undefined) patch.status = changes.status
      if (changes.statusReason !== undefined) patch.status_reason = changes.statusReason
      if (changes.accountId !== undefined) patch.account_id = changes.accountId
      if (changes.accountName !== undefined) patch.account_name = changes.accountName
      if (changes.tokenExpiresAt !== undefined) patch.token_expires_at = changes.tokenExpiresAt
      if (changes.webhookEndpointId !== undefined) patch.webhook_endpoint_id = changes.webhookEndpointId
      if (changes.disconnectedAt !== undefined) patch.disconnected_at = changes.disconnectedAt
      if (changes.providerMeta !== undefined) patch.provider_meta = JSON.stringify(changes.providerMeta)
      if (changes.sealed !== undefined) {
        patch.secrets = JSON.stringify(changes.sealed.secrets)
        patch.masked = JSON.stringify(changes.sealed.masked)
        patch.min_key_version = changes.sealed.minKeyVersion
      }
      const [row] = await table(trx).where({ id }).update(patch).returning('*')
      return row as ConnectionRow
    },
  }
}

export type ConnectionRepository = ReturnType<typeof createConnectionRepository>
