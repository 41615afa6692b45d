// Data access for connections: knex and nothing else. Tenant-scoped transactions in, rows out. A
// change of status also writes its event to the outbox, in the same transaction.
import type { Knex } from 'knex'
import type { SyncLog } from '@hub/contracts'
import type { ProviderName } from '../../../providers/canonical.ts'
import { INTEGRATION_TABLES } from '../../../db/schema.ts'
import type { SealedSecrets, SecretField } from '../secrets/credential-vault.ts'
import type { SealedTable } from '../secrets/sealed-secrets-rotation.ts'
import { jsonb } from '@hub/service-kit'
import { publishEvent } from '../events/event-outbox-repository.ts'

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

/** Connection secrets, for key rotation (secrets/sealed-secrets-rotation.ts re-encrypts them). */
export const CONNECTION_SECRETS: SealedTable = { table: INTEGRATION_TABLES.connections, rowIdColumn: 'id', label: 'Stored secrets' }

/** A connection with its last sync and last success (what other services ask about a venue). */
export interface ConnectionStatusRow {
  id: string
  provider: ProviderName
  status: ConnectionStatus
  last_sync: { id: string; entity: SyncLog['entity']; status: SyncLog['status']; started_at: string | null; finished_at: string | null } | null
  last_success_at: Date | null
}

const table = (trx: Knex.Transaction) => trx<ConnectionRow>(INTEGRATION_TABLES.connections)

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

    /**
     * A connection found by id alone in the system scope (a provider's webhook names only the
     * connection), and the transaction moved into its tenant's scope by the same statement (the
     * system scope's setting and role both left): what follows runs under that tenant's row-level
     * security, one round trip sooner. Nothing moves when there is no such connection.
     */
    async findByIdEnteringTenant(trx: Knex.Transaction, id: string): Promise<ConnectionRow | null> {
      const result = (await trx.raw(
        `select c.*, set_config('app.scope', '', true) as "__scope", set_config('role', 'none', true) as "__role", set_config('app.tenant_id', c.tenant_id::text, true) as "__tenant"
           from ${INTEGRATION_TABLES.connections} c where c.id = ?`,
        [id],
      )) as { rows: Array<ConnectionRow & { __scope: string; __role: string; __tenant: string }> }
      const row = result.rows[0]
      if (!row) return null
      const { __scope: _scope, __role: _role, __tenant: _tenant, ...connection } = row
      return connection
    },

    async findLive(trx: Knex.Transaction, venueId: string, provider: ProviderName): Promise<ConnectionRow | null> {
      return ((await table(trx).where({ venue_id: venueId, provider }).whereNot('status', 'disconnected').first()) as ConnectionRow | undefined) ?? null
    },

    async listLiveForVenue(trx: Knex.Transaction, venueId: string): Promise<ConnectionRow[]> {
      return (await table(trx).where({ venue_id: venueId }).whereNot('status', 'disconnected').orderBy('created_at')) as ConnectionRow[]
    },

    /** Active connections of a provider (of one venue when given): what a settings or mapping change reschedules or re-syncs. */
    async listActiveOfProvider(trx: Knex.Transaction, provider: ProviderName, venueId?: string): Promise<Array<Pick<ConnectionRow, 'id' | 'venue_id' | 'provider'>>> {
      const query = table(trx).select('id', 'venue_id', 'provider').where({ provider, status: 'active' })
      if (venueId) query.where('venue_id', venueId)
      return (await query) as Array<Pick<ConnectionRow, 'id' | 'venue_id' | 'provider'>>
    },

    /** Tenants with any connection, across tenants (system scope): whose data retention looks at. */
    async tenantIds(trx: Knex.Transaction): Promise<string[]> {
      return ((await table(trx).distinct('tenant_id').orderBy('tenant_id')) as Array<{ tenant_id: string }>).map((row) => row.tenant_id)
    },

    /** Retention: the tenant's connections disconnected before `cutoff`, whose records may go. */
    async listDisconnectedBefore(trx: Knex.Transaction, cutoff: Date): Promise<Array<Pick<ConnectionRow, 'id' | 'venue_id'>>> {
      return (await table(trx).select('id', 'venue_id').where('status', 'disconnected').andWhere('disconnected_at', '<', cutoff)) as Array<Pick<ConnectionRow, 'id' | 'venue_id'>>
    },

    /** Ids of every connection (any status) of these venues: what a hold on a venue covers. */
    async idsOfVenues(trx: Knex.Transaction, venueIds: string[]): Promise<string[]> {
      if (venueIds.length === 0) return []
      return (await table(trx).whereIn('venue_id', venueIds).pluck('id')) as string[]
    },

    /** The venue of each of these connections (any status), by connection id. */
    async venuesOf(trx: Knex.Transaction, ids: string[]): Promise<Map<string, string>> {
      if (ids.length === 0) return new Map()
      const rows = (await table(trx).whereIn('id', ids).select('id', 'venue_id')) as Array<Pick<ConnectionRow, 'id' | 'venue_id'>>
      return new Map(rows.map((row) => [row.id, row.venue_id]))
    },

    /** Every active connection, across tenants (system scope): the schedules the reconciler restores. */
    async listActive(trx: Knex.Transaction): Promise<Array<Pick<ConnectionRow, 'id' | 'tenant_id' | 'venue_id' | 'provider'>>> {
      return (await table(trx).select('id', 'tenant_id', 'venue_id', 'provider').where({ status: 'active' })) as Array<Pick<ConnectionRow, 'id' | 'tenant_id' | 'venue_id' | 'provider'>>
    },

    /** Live connections of a provider for these accounts (realms), across tenants (system scope). */
    async listLiveByRealms(trx: Knex.Transaction, provider: ProviderName, accountIds: string[]): Promise<ConnectionRow[]> {
      return (await table(trx).select('*').where({ provider }).whereIn('account_id', accountIds).whereNot('status', 'disconnected')) as ConnectionRow[]
    },

    /** A venue's connections, each with its last sync and last success (system scope: the caller is a service). */
    async venueStatus(trx: Knex.Transaction, venueId: string): Promise<ConnectionStatusRow[]> {
      return (await trx(`${INTEGRATION_TABLES.connections} as c`)
        .select(
          'c.id',
          'c.provider',
          'c.status',
          trx.raw(`(select row_to_json(l) from (select id, entity, status, started_at, finished_at from ${INTEGRATION_TABLES.syncLogs} s where s.connection_id = c.id order by s.created_at desc limit 1) l) as last_sync`),
          trx.raw(`(select max(finished_at) from ${INTEGRATION_TABLES.syncLogs} s where s.connection_id = c.id and s.status = 'succeeded') as last_success_at`),
        )
        .where('c.venue_id', venueId)
        .orderBy('c.created_at')) as ConnectionStatusRow[]
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
      changes: Partial<{
        authType: ConnectionRow['auth_type']
        status: ConnectionStatus
        statusReason: string | null
        accountId: string | null
        accountName: string | null
        sealed: SealedSecrets
        tokenExpiresAt: Date | null
        webhookEndpointId: string | null
        disconnectedAt: Date | null
        providerMeta: ConnectionRow['provider_meta']
      }>,
    ): Promise<ConnectionRow> {
      const patch: Record<string, unknown> = { updated_at: trx.fn.now() }
      if (changes.authType !== undefined) patch.auth_type = changes.authType
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
      // The status before, under the row lock: a change of status is published by its writer, once.
      const before = changes.status !== undefined ? ((await table(trx).select('status').where({ id }).forUpdate().first()) as Pick<ConnectionRow, 'status'> | undefined) : undefined
      const [row] = (await table(trx).where({ id }).update(patch).returning('*')) as ConnectionRow[]
      if (row && before && before.status !== row.status) {
        await publishEvent(trx, {
          type: 'integration.connection.status_changed',
          tenantId: row.tenant_id,
          venueId: row.venue_id,
          connectionId: row.id,
          data: { provider: row.provider, previousStatus: before.status, status: row.status, reason: row.status_reason ? row.status_reason.slice(0, 500) : null },
        })
      }
      return row as ConnectionRow
    },
  }
}

export type ConnectionRepository = ReturnType<typeof createConnectionRepository>
