// Data access for tenant webhooks: endpoints, messages, attempts and the events the feature
// produces. knex and nothing else; tenant-scoped transactions in (the sweeper's is system-scoped).
import type { Knex } from 'knex'
import { INTEGRATION_TABLES } from '../../../db/schema.ts'
import type { SealedTable } from '../secrets/sealed-secrets-rotation.ts'

export const ENDPOINT_SECRET_FIELDS = ['signingSecret', 'previousSigningSecret'] as const
export type EndpointSecretField = (typeof ENDPOINT_SECRET_FIELDS)[number]

export interface EndpointRow {
  id: string
  tenant_id: string
  url: string
  description: string
  event_types: string[]
  venue_id: string | null
  enabled: boolean
  disabled_reason: 'manual' | 'failing' | null
  disabled_at: Date | null
  secrets: Partial<Record<EndpointSecretField, string>>
  min_key_version: number | null
  previous_secret_expires_at: Date | null
  consecutive_failures: number
  failing_since: Date | null
  created_at: Date
  updated_at: Date
}

export const MESSAGE_STATUSES = ['pending', 'succeeded', 'failed'] as const
export type MessageStatus = (typeof MESSAGE_STATUSES)[number]

export interface MessageRow {
  id: string
  tenant_id: string
  endpoint_id: string
  event_id: string
  event_type: string
  payload: Record<string, unknown>
  status: MessageStatus
  attempt_count: number
  retry_step: number
  next_attempt_at: Date | null
  last_error: string | null
  delivered_at: Date | null
  created_at: Date
  updated_at: Date
}

export const ATTEMPT_OUTCOMES = ['succeeded', 'failed', 'refused'] as const
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number]

export interface AttemptRow {
  id: string
  tenant_id: string
  message_id: string
  endpoint_id: string
  attempt_number: number
  outcome: AttemptOutcome
  response_status: number | null
  latency_ms: number
  response_snippet: string | null
  error: string | null
  created_at: Date
}

export interface PageAfter {
  createdAt: string
  id: string
}

/** Endpoint signing secrets, for key rotation (`npm run keys:rotate`) and the start-up key check. */
export const WEBHOOK_ENDPOINT_SECRETS: SealedTable = { table: INTEGRATION_TABLES.webhookEndpoints, rowIdColumn: 'id', label: 'Webhook endpoint signing secrets' }

const endpoints = (trx: Knex.Transaction) => trx<EndpointRow>(INTEGRATION_TABLES.webhookEndpoints)
const messages = (trx: Knex.Transaction) => trx<MessageRow>(INTEGRATION_TABLES.webhookMessages)
const attempts = (trx: Knex.Transaction) => trx<AttemptRow>(INTEGRATION_TABLES.webhookAttempts)

/** Newest first, keyset on (created_at, id). */
function pageAfter(query: Knex.QueryBuilder, after: PageAfter | undefined): void {
  if (after) query.whereRaw('(created_at, id) < (?::timestamptz, ?::uuid)', [after.createdAt, after.id])
}

export function createOutboundWebhookRepository() {
  return {
    async insertEndpoint(trx: Knex.Transaction, row: Pick<EndpointRow, 'id' | 'tenant_id' | 'url' | 'description' | 'event_types' | 'venue_id' | 'secrets' | 'min_key_version'>): Promise<EndpointRow> {
      const [inserted] = await endpoints(trx)
        .insert({ ...row, secrets: JSON.stringify(row.secrets) as unknown as EndpointRow['secrets'] })
        .returning('*')
      return inserted as EndpointRow
    },

    async findEndpoint(trx: Knex.Transaction, id: string, options: { forUpdate?: boolean } = {}): Promise<EndpointRow | null> {
      const query = endpoints(trx).where({ id })
      if (options.forUpdate) query.forUpdate()
      return ((await query.first()) as EndpointRow | undefined) ?? null
    },

    async listEndpoints(trx: Knex.Transaction, page: { after?: PageAfter | undefined; limit: number }): Promise<EndpointRow[]> {
      const query = endpoints(trx).select('*')
      pageAfter(query, page.after)
      return (await query
        .orderBy([
          { column: 'created_at', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(page.limit)) as EndpointRow[]
    },

    async updateEndpoint(trx: Knex.Transaction, id: string, patch: Partial<Omit<EndpointRow, 'id' | 'tenant_id' | 'created_at'>>): Promise<EndpointRow> {
      const values: Record<string, unknown> = { ...patch, updated_at: trx.fn.now() }
      if (patch.secrets) values.secrets = JSON.stringify(patch.secrets)
      const [updated] = await endpoints(trx).where({ id }).update(values).returning('*')
      return updated as EndpointRow
    },

    async deleteEndpoint(trx: Knex.Transaction, id: string): Promise<boolean> {
      return (await endpoints(trx).where({ id }).delete()) > 0
    },

    /** Enabled endpoints of the tenant subscribed to the type, for every venue or this one. */
    async matchingEndpoints(trx: Knex.Transaction, eventType: string, venueId: string | null): Promise<EndpointRow[]> {
      const query = endpoints(trx).where({ enabled: true }).whereRaw('? = any(event_types)', [eventType])
      if (venueId === null) query.whereNull('venue_id')
      else query.where((scope) => scope.whereNull('venue_id').orWhere({ venue_id: venueId }))
      return (await query) as EndpointRow[]
    },

    /** One message per (endpoint, event); returns every message of the event for those endpoints, new or already there. */
    async insertMessages(trx: Knex.Transaction, rows: Array<Pick<MessageRow, 'tenant_id' | 'endpoint_id' | 'event_id' | 'event_type' | 'payload'>>): Promise<MessageRow[]> {
      if (rows.length === 0) return []
      await messages(trx)
        .insert(rows.map((row) => ({ ...row, payload: JSON.stringify(row.payload) as unknown as MessageRow['payload'], next_attempt_at: trx.fn.now() as unknown as Date })))
        .onConflict(['endpoint_id', 'event_id'])
        .ignore()
      const eventIds = [...new Set(rows.map((row) => row.event_id))]
      return (await messages(trx)
        .whereIn('event_id', eventIds)
        .whereIn(
          'endpoint_id',
          rows.map((row) => row.endpoint_id),
        )) as MessageRow[]
    },

    async findMessage(trx: Knex.Transaction, id: string): Promise<MessageRow | null> {
      return ((await messages(trx).where({ id }).first()) as MessageRow | undefined) ?? null
    },

    async listMessages(trx: Knex.Transaction, endpointId: string, filter: { status?: MessageStatus | undefined; eventType?: string | undefined; after?: PageAfter | undefined; limit: number }): Promise<MessageRow[]> {
      const query = messages(trx).where({ endpoint_id: endpointId })
      if (filter.status) query.where({ status: filter.status })
      if (filter.eventType) query.where({ event_type: filter.eventType })
      pageAfter(query, filter.after)
      return (await query
        .orderBy([
          { column: 'created_at', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(filter.limit)) as MessageRow[]
    },

    /**
     * Takes attempt `attempt` of a pending message: one claimer wins (a job run twice, or the
     * sweeper's copy, finds the count moved on). The lease is when a crashed attempt is retried.
     */
    async claimMessage(trx: Knex.Transaction, id: string, attempt: number, leaseMs: number): Promise<MessageRow | null> {
      const [claimed] = await messages(trx)
        .where({ id, status: 'pending', attempt_count: attempt })
        .update({ attempt_count: attempt + 1, next_attempt_at: trx.raw(`now() + ? * interval '1 millisecond'`, [leaseMs]) as unknown as Date, updated_at: trx.fn.now() as unknown as Date })
        .returning('*')
      return (claimed as MessageRow | undefined) ?? null
    },

    async settleMessage(trx: Knex.Transaction, id: string, outcome: { status: 'succeeded' } | { status: 'failed'; error: string } | { status: 'pending'; error: string; retryStep: number; delayMs: number }): Promise<MessageRow> {
      const values: Record<string, unknown> = { status: outcome.status, updated_at: trx.fn.now() }
      if (outcome.status === 'succeeded') Object.assign(values, { delivered_at: trx.fn.now(), next_attempt_at: null, last_error: null })
      else if (outcome.status === 'failed') Object.assign(values, { next_attempt_at: null, last_error: outcome.error })
      else Object.assign(values, { last_error: outcome.error, retry_step: outcome.retryStep, next_attempt_at: trx.raw(`now() + ? * interval '1 millisecond'`, [outcome.delayMs]) })
      const [row] = await messages(trx).where({ id }).update(values).returning('*')
      return row as MessageRow
    },

    /** Sends the message again from the start of the schedule, whatever became of it. */
    async resetForReplay(trx: Knex.Transaction, id: string): Promise<MessageRow> {
      const [row] = await messages(trx)
        .where({ id })
        .update({ status: 'pending', retry_step: 0, next_attempt_at: trx.fn.now() as unknown as Date, updated_at: trx.fn.now() as unknown as Date })
        .returning('*')
      return row as MessageRow
    },

    async insertAttempt(trx: Knex.Transaction, row: Omit<AttemptRow, 'id' | 'created_at'>): Promise<void> {
      await attempts(trx).insert(row).onConflict(['message_id', 'attempt_number']).ignore()
    },

    async listAttempts(trx: Knex.Transaction, messageId: string, filter: { outcome?: AttemptOutcome | undefined; after?: PageAfter | undefined; limit: number }): Promise<AttemptRow[]> {
      const query = attempts(trx).where({ message_id: messageId })
      if (filter.outcome) query.where({ outcome: filter.outcome })
      pageAfter(query, filter.after)
      return (await query
        .orderBy([
          { column: 'created_at', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(filter.limit)) as AttemptRow[]
    },

    async recordEndpointSuccess(trx: Knex.Transaction, endpointId: string): Promise<void> {
      await endpoints(trx).where({ id: endpointId }).where('consecutive_failures', '>', 0).update({ consecutive_failures: 0, failing_since: null })
    },

    /**
     * Counts a failure; disables the endpoint when every attempt failed for at least `afterMs`
     * and `afterFailures` times. Returns the endpoint when this call disabled it.
     */
    async recordEndpointFailure(trx: Knex.Transaction, endpointId: string, rule: { afterMs: number; afterFailures: number }): Promise<EndpointRow | null> {
      await endpoints(trx)
        .where({ id: endpointId })
        .update({ consecutive_failures: trx.raw('consecutive_failures + 1'), failing_since: trx.raw('coalesce(failing_since, now())') } as unknown as Partial<EndpointRow>)
      const [disabled] = await endpoints(trx)
        .where({ id: endpointId, enabled: true })
        .where('consecutive_failures', '>=', rule.afterFailures)
        .whereRaw(`failing_since <= now() - ? * interval '1 millisecond'`, [rule.afterMs])
        .update({ enabled: false, disabled_reason: 'failing', disabled_at: trx.fn.now() as unknown as Date, updated_at: trx.fn.now() as unknown as Date })
        .returning('*')
      return (disabled as EndpointRow | undefined) ?? null
    },

    /** Pending messages whose attempt is due (or whose running attempt's lease lapsed), any tenant. */
    async dueMessages(systemTrx: Knex.Transaction, limit: number): Promise<Array<Pick<MessageRow, 'id' | 'tenant_id' | 'attempt_count'>>> {
      return (await messages(systemTrx).select('id', 'tenant_id', 'attempt_count').where({ status: 'pending' }).where('next_attempt_at', '<=', systemTrx.fn.now()).orderBy('next_attempt_at').limit(limit)) as Array<
        Pick<MessageRow, 'id' | 'tenant_id' | 'attempt_count'>
      >
    },
  }
}

export type OutboundWebhookRepository = ReturnType<typeof createOutboundWebhookRepository>
