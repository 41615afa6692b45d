// Provider webhooks in: verify the signature on the exact bytes received, check each event names
// the connection's own account (webhook-binding.ts), store every event in the inbox (unique per
// provider, connection and event id) in this request, answer 2xx, and only then hand the new rows
// to the critical queue. A resent event is answered 2xx and stored once; a row that never reached
// Redis is picked up again by the relay.
//
// QuickBooks is different: Intuit sends every realm's notifications to one URL per app, signed
// with the app's one verifier token. They arrive at /webhooks/quickbooks and each event is routed
// by its realmId to that realm's connection(s); events of realms no connection holds are dropped.
// The older per-connection URL (/webhooks/quickbooks/:connectionId) is kept as an alias of the
// app endpoint: its connection id is ignored and events are routed by realm all the same, so a
// portal still pointing at it keeps working and can never file one realm's event under another's.
import { randomBytes } from 'node:crypto'
import type { Knex } from 'knex'
import type { SecurityEventReporter } from '@hub/contracts'
import { AppError, BadRequestError } from '@hub/contracts'
import { findBadString, JsonTooDeepError, MAX_JSON_DEPTH, parseJsonBounded, type Database } from '@hub/service-kit'
import type { ProviderName } from '../../../providers/canonical.ts'
import type { NormalizedWebhookEvent } from '../../../providers/provider-adapter.ts'
import { WebhookVerificationError } from '../../../providers/provider-errors.ts'
import type { ProviderRegistry } from '../../../providers/registry.ts'
import { eventBelongsTo } from '../../../providers/webhook-binding.ts'
import type { ConnectionRepository, ConnectionRow } from '../connections/connection-repository.ts'
import type { CredentialVault } from '../secrets/credential-vault.ts'
import type { WebhookInboxRepository } from './webhook-inbox-repository.ts'

export class WebhookSignatureError extends AppError {
  constructor() {
    super(401, 'WEBHOOK_SIGNATURE_INVALID', 'Unauthorized', 'The webhook signature does not verify.')
  }
}

export interface StoredWebhook {
  inboxId: string
  tenantId: string
  connectionId: string
}

export interface WebhookDelivery {
  rawBody: Buffer
  headers: Record<string, string | string[] | undefined>
  url: string
  ip: string
  requestId: string
}

export interface IntakeResult {
  stored: StoredWebhook[]
  duplicates: number
  /** Events acknowledged but dropped: QuickBooks realms no live connection holds, and events carrying NUL or unpaired surrogates. */
  ignored: number
}

export function createWebhookIntake(deps: {
  db: Pick<Database, 'withTenant' | 'withSystemScope'>
  connections: ConnectionRepository
  inbox: Pick<WebhookInboxRepository, 'insertNew'>
  vault: CredentialVault
  registry: ProviderRegistry
  securityEvents: SecurityEventReporter
  publicUrl: string
  /** The Intuit app's verifier token; without it every QuickBooks delivery is refused. */
  quickbooksVerifier?: string | undefined
  logger?: { warn(details: object, message: string): void }
}) {
  // An unknown connection id is answered exactly like a bad signature (same status, code and
  // body), after the same verification work against a secret nobody knows: the answer and its
  // timing must not tell an anonymous caller which connection ids exist.
  const decoySecret = randomBytes(32).toString('base64url')

  function refuse(provider: ProviderName, input: WebhookDelivery, code: string, tenantId: string | null, details: Record<string, unknown>): never {
    deps.securityEvents.report({
      type: 'INVALID_SIGNATURE',
      severity: 'high',
      source: 'integration-service',
      code,
      tenantId,
      actor: provider,
      ip: input.ip,
      method: 'POST',
      path: input.url.split('?')[0] ?? input.url,
      requestId: input.requestId,
      details,
    })
    throw new WebhookSignatureError()
  }

  // Before any parser recurses into it: a body nested thousands deep is refused as a 400 (not a
  // signature failure, so no security event; and never a 5xx a provider would retry forever).
  function refuseTooDeep(input: WebhookDelivery): void {
    try {
      parseJsonBounded(input.rawBody.toString('utf8'), MAX_JSON_DEPTH)
    } catch (error) {
      if (error instanceof JsonTooDeepError) throw new BadRequestError('WEBHOOK_PAYLOAD_TOO_DEEP', `The payload is nested more than ${MAX_JSON_DEPTH} levels deep.`)
    }
  }

  function verify(provider: ProviderName, input: WebhookDelivery, secret: string): NormalizedWebhookEvent[] | WebhookVerificationError {
    try {
      return deps.registry[provider].adapter.verifyWebhook({ rawBody: input.rawBody, headers: input.headers, url: `${deps.publicUrl.replace(/\/$/, '')}${input.url}`, secret })
    } catch (error) {
      if (error instanceof WebhookVerificationError) return error
      throw error
    }
  }

  // An authentic event Postgres cannot store (a NUL byte or an unpaired surrogate in any string)
  // is acknowledged and dropped with a warning: refusing it would only make the provider retry.
  // The account id is checked too, as QuickBooks looks connections up by it before storing.
  function dropUnstorable(events: NormalizedWebhookEvent[], context: { provider: ProviderName; connectionId?: string }): { events: NormalizedWebhookEvent[]; ignored: number } {
    const storable = events.filter((event) => findBadString([event.eventId, event.type, event.externalId, event.accountId, event.raw ?? null], '') === null)
    const ignored = events.length - storable.length
    if (ignored > 0) deps.logger?.warn({ ...context, ignored }, 'webhook events with unstorable strings acknowledged and dropped')
    return { events: storable, ignored }
  }

  async function store(connection: Pick<ConnectionRow, 'id' | 'tenant_id' | 'venue_id'>, provider: ProviderName, received: NormalizedWebhookEvent[], lookup?: Knex.Transaction): Promise<IntakeResult> {
    const { events, ignored } = dropUnstorable(received, { provider, connectionId: connection.id })
    if (events.length === 0) return { stored: [], duplicates: 0, ignored }
    const insert = async (trx: Knex.Transaction) => {
      const stored = await deps.inbox.insertNew(
        trx,
        events.map((event) => ({
          tenantId: connection.tenant_id,
          connectionId: connection.id,
          provider,
          eventId: event.eventId.slice(0, 255),
          eventType: event.type.slice(0, 255),
          entity: event.entity,
          externalId: event.externalId,
          payload: event.raw ?? {},
        })),
      )
      return stored.map((row) => row.id)
    }
    // In the lookup's transaction when there is one: the lookup moved it into the connection's
    // tenant, so the insert is under that tenant's row-level security as ever.
    const ids = lookup ? await insert(lookup) : await deps.db.withTenant(connection.tenant_id, insert)
    return { stored: ids.map((inboxId) => ({ inboxId, tenantId: connection.tenant_id, connectionId: connection.id })), duplicates: events.length - ids.length, ignored }
  }

  /** Live QuickBooks connections of these realms, across tenants (the realm is all Intuit names). */
  async function connectionsOfRealms(realms: string[]): Promise<ConnectionRow[]> {
    if (realms.length === 0) return []
    return deps.db.withSystemScope((trx) => deps.connections.listLiveByRealms(trx, 'quickbooks', realms))
  }

  /** QuickBooks, at the app endpoint: one verifier for the app, events routed by realm. */
  async function receiveQuickBooks(input: WebhookDelivery): Promise<IntakeResult> {
    refuseTooDeep(input)
    const verified = verify('quickbooks', input, deps.quickbooksVerifier ?? decoySecret)
    if (!deps.quickbooksVerifier) return refuse('quickbooks', input, 'WEBHOOK_NO_VERIFIER', null, {})
    if (verified instanceof WebhookVerificationError) return refuse('quickbooks', input, `WEBHOOK_${verified.reason.toUpperCase()}`, null, {})
    // Before the realm lookup, not only in store(): a realm id with a NUL byte fails the query itself.
    const { events, ignored: unstorable } = dropUnstorable(verified, { provider: 'quickbooks' })
    const targets = await connectionsOfRealms([...new Set(events.flatMap((event) => (event.accountId ? [event.accountId] : [])))])
    const result: IntakeResult = { stored: [], duplicates: 0, ignored: unstorable }
    for (const event of events) if (!targets.some((connection) => eventBelongsTo(event, connection))) result.ignored++
    for (const connection of targets) {
      const { stored, duplicates, ignored } = await store(
        connection,
        'quickbooks',
        events.filter((event) => eventBelongsTo(event, connection)),
      )
      result.stored.push(...stored)
      result.duplicates += duplicates
      result.ignored += ignored
    }
    return result
  }

  return {
    receiveQuickBooks,

    /** Returns the inbox rows that were new (duplicates are acknowledged and dropped). */
    async receive(input: WebhookDelivery & { provider: ProviderName; connectionId: string }): Promise<IntakeResult> {
      if (input.provider === 'quickbooks') return receiveQuickBooks(input)
      refuseTooDeep(input)
      // The provider knows only the URL: find the connection (and its tenant) by id alone. The
      // lookup and the insert share one transaction, and the lookup enters the tenant's scope
      // (three round trips fewer per delivery than a transaction each and a statement to switch,
      // on the path every acknowledgement waits for). A refusal throws, and the whole rolls back.
      return deps.db.withSystemScope(async (trx) => {
        const connection = await deps.connections.findByIdEnteringTenant(trx, input.connectionId)
        const usable = connection && connection.provider === input.provider && connection.status !== 'disconnected' ? connection : null
        const secret = usable ? deps.vault.open(usable.tenant_id, usable.id, usable.secrets).webhookSecret : undefined
        if (!usable || !secret) {
          verify(input.provider, input, decoySecret)
          return refuse(input.provider, input, 'WEBHOOK_UNKNOWN_ENDPOINT', null, { connectionId: input.connectionId })
        }

        const events = verify(input.provider, input, secret)
        if (events instanceof WebhookVerificationError) return refuse(input.provider, input, `WEBHOOK_${events.reason.toUpperCase()}`, usable.tenant_id, { connectionId: usable.id })
        // Signed with this connection's secret but about another account: refused, like a bad
        // signature, and reported (a secret shared between connections, or a misrouted delivery).
        if (!events.every((event) => eventBelongsTo(event, usable))) return refuse(input.provider, input, 'WEBHOOK_ACCOUNT_MISMATCH', usable.tenant_id, { connectionId: usable.id })
        return store(usable, input.provider, events, trx)
      })
    },
  }
}

export type WebhookIntake = ReturnType<typeof createWebhookIntake>
