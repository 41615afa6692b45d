// Tenant webhooks: the rules. Endpoints (with their sealed signing secrets), fan-out of one hub
// event into one message per matching endpoint, the delivery of one attempt and what follows it
// (retry, give up, disable an endpoint that keeps failing), and the browsing and replay API.
import { randomUUID } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import { decryptSecret, encryptSecret, envelopeKeyVersion, type KeyRing } from '@hub/crypto'
import type { HubEvent, SecurityEventReporter } from '@hub/contracts'
import { auditActor, CursorField, encodeCursor, readCursor, type AuditOutbox, type Database, type RequestContext } from '@hub/service-kit'
import { publishEvent, type NewHubEvent } from '../events/event-outbox-repository.ts'
import type { Deliverer } from './delivery.ts'
import type { DeliveryJobData, OutboundWebhookQueue } from './outbound-webhook-queue.ts'
import { WebhookEndpointDisabledError, WebhookEndpointNotFoundError, WebhookMessageNotFoundError, WebhookUrlRefusedError } from './outbound-webhook-errors.ts'
import type { AttemptOutcome, AttemptRow, EndpointRow, EndpointSecretField, MessageRow, MessageStatus, OutboundWebhookRepository } from './outbound-webhook-repository.ts'
import { generateSigningSecret } from './signature.ts'
import { UrlRefusedError, type UrlGuard } from './url-guard.ts'

/** The type of the message `POST …/endpoints/:id/test` sends; not a hub event, never fanned out. */
export const PING_EVENT_TYPE = 'webhook.ping'

/**
 * integration.endpoint.disabled for an endpoint the worker just disabled. Its venue is the
 * endpoint's venue filter; an endpoint of every venue has none, and its event names the tenant's
 * own id as `venueId` (a UUID no venue has): the sequence is then the tenant's, across its
 * every-venue endpoints, and only the tenant's every-venue endpoints match it.
 */
export function endpointDisabledEvent(endpoint: EndpointRow): NewHubEvent<'integration.endpoint.disabled'> {
  return {
    type: 'integration.endpoint.disabled',
    tenantId: endpoint.tenant_id,
    venueId: endpoint.venue_id ?? endpoint.tenant_id,
    connectionId: null,
    data: {
      endpointId: endpoint.id,
      venueFilter: endpoint.venue_id,
      reason: 'failing',
      consecutiveFailures: endpoint.consecutive_failures,
      failingSince: endpoint.failing_since?.toISOString() ?? null,
      disabledAt: (endpoint.disabled_at ?? new Date()).toISOString(),
    },
  }
}

const PageCursor = Type.Object({ c: CursorField.timestamp(), i: CursorField.uuid() })

export interface EndpointInput {
  url: string
  eventTypes: string[]
  venueId?: string | null | undefined
  description?: string | undefined
}

export interface EndpointPatch {
  url?: string | undefined
  eventTypes?: string[] | undefined
  venueId?: string | null | undefined
  description?: string | undefined
  enabled?: boolean | undefined
}

export interface DeliveryRules {
  /** Waits before each attempt (ms); see retry-schedule.ts. */
  schedule: number[]
  disableAfterMs: number
  disableAfterFailures: number
  /** How long a started attempt holds its message before the sweeper may retry it. */
  leaseMs: number
}

const toEndpoint = (row: EndpointRow) => ({
  id: row.id,
  url: row.url,
  description: row.description,
  eventTypes: row.event_types,
  venueId: row.venue_id,
  enabled: row.enabled,
  disabledReason: row.disabled_reason,
  disabledAt: row.disabled_at?.toISOString() ?? null,
  previousSecretExpiresAt: row.previous_secret_expires_at && row.previous_secret_expires_at.getTime() > Date.now() ? row.previous_secret_expires_at.toISOString() : null,
  consecutiveFailures: row.consecutive_failures,
  failingSince: row.failing_since?.toISOString() ?? null,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
})
export type WebhookEndpoint = ReturnType<typeof toEndpoint>

/** What the audit log keeps of an endpoint: its URL without query or fragment (a tenant may put a token there). */
const forAudit = (view: WebhookEndpoint) => {
  const url = new URL(view.url)
  return { ...view, url: `${url.protocol}//${url.host}${url.pathname}` }
}

const toMessage = (row: MessageRow) => ({
  id: row.id,
  endpointId: row.endpoint_id,
  eventId: row.event_id,
  eventType: row.event_type,
  status: row.status,
  attempts: row.attempt_count,
  nextAttemptAt: row.status === 'pending' ? (row.next_attempt_at?.toISOString() ?? null) : null,
  lastError: row.last_error,
  deliveredAt: row.delivered_at?.toISOString() ?? null,
  createdAt: row.created_at.toISOString(),
  payload: row.payload,
})

const toAttempt = (row: AttemptRow) => ({
  id: row.id,
  messageId: row.message_id,
  attemptNumber: row.attempt_number,
  outcome: row.outcome,
  responseStatus: row.response_status,
  latencyMs: row.latency_ms,
  responseSnippet: row.response_snippet,
  error: row.error,
  createdAt: row.created_at.toISOString(),
})

const page = <R extends { created_at: Date; id: string }, V>(rows: R[], limit: number, view: (row: R) => V) => {
  const kept = rows.slice(0, limit)
  const last = kept.at(-1)
  return { data: kept.map(view), nextCursor: rows.length > limit && last ? encodeCursor({ c: last.created_at.toISOString(), i: last.id }) : null }
}

export function createOutboundWebhookService(deps: {
  db: Pick<Database, 'withTenant' | 'withSystemScope'>
  repo: OutboundWebhookRepository
  ring: KeyRing
  guard: UrlGuard
  deliver: Deliverer
  queue: Pick<OutboundWebhookQueue, 'enqueue' | 'requeue'>
  audit: AuditOutbox
  securityEvents: SecurityEventReporter
  rules: DeliveryRules
  logger: { warn(details: object, message: string): void }
}) {
  const { db, repo, ring, guard, queue, audit, rules, logger } = deps
  const aad = (tenantId: string, endpointId: string, field: EndpointSecretField) => ({ tenantId, rowId: endpointId, field })
  const seal = (tenantId: string, endpointId: string, secrets: Partial<Record<EndpointSecretField, string>>) => {
    const sealed: Partial<Record<EndpointSecretField, string>> = {}
    for (const [field, value] of Object.entries(secrets) as Array<[EndpointSecretField, string]>) sealed[field] = encryptSecret(ring, value, aad(tenantId, endpointId, field))
    const versions = Object.values(sealed).map((envelope) => envelopeKeyVersion(envelope))
    return { secrets: sealed, min_key_version: versions.length > 0 ? Math.min(...versions) : null }
  }
  /** The secrets a delivery is signed with now: the current one, and the previous one during its overlap. */
  const signingSecrets = (row: EndpointRow): string[] => {
    const open = (field: EndpointSecretField) => decryptSecret(ring, row.secrets[field] as string, aad(row.tenant_id, row.id, field))
    const secrets = [open('signingSecret')]
    if (row.secrets.previousSigningSecret && row.previous_secret_expires_at && row.previous_secret_expires_at.getTime() > Date.now()) secrets.push(open('previousSigningSecret'))
    return secrets
  }

  function reportRefusal(refusal: UrlRefusedError, where: { tenantId: string; actor: string | null; endpointId?: string; stage: 'registration' | 'delivery'; ip?: string; requestId?: string }): void {
    deps.securityEvents.report({
      type: 'SUSPICIOUS_ACCESS',
      severity: 'high',
      source: 'integration-service',
      code: 'OUTBOUND_WEBHOOK_URL_REFUSED',
      tenantId: where.tenantId,
      actor: where.actor,
      ...(where.ip ? { ip: where.ip } : {}),
      ...(where.requestId ? { requestId: where.requestId } : {}),
      // The host only: a URL's path or query may hold a tenant's token.
      details: { stage: where.stage, reason: refusal.reason, host: refusal.host, ...(refusal.range ? { range: refusal.range } : {}), ...(where.endpointId ? { endpointId: where.endpointId } : {}) },
    })
  }

  async function checkUrl(ctx: RequestContext, url: string, endpointId?: string): Promise<void> {
    try {
      await guard.check(url)
    } catch (error) {
      if (!(error instanceof UrlRefusedError)) throw error
      // A name that does not resolve or a typo is a mistake; an address we refuse is an attempt.
      if (error.reason === 'blocked_address' || error.reason === 'credentials_in_url') {
        reportRefusal(error, { tenantId: ctx.principal.tenantId, actor: ctx.principal.userId, stage: 'registration', ip: ctx.ip, requestId: ctx.requestId, ...(endpointId ? { endpointId } : {}) })
      }
      throw new WebhookUrlRefusedError(error)
    }
  }

  /**
   * Hands stored messages to the queue. `replace` is for a message that may have had a job: its
   * retry delayed in Bull under the same id (promoted), or a finished one (replaced), where a plain
   * add would be ignored and the message would wait for the sweeper.
   */
  async function enqueueAll(rows: MessageRow[], replace = false): Promise<void> {
    for (const row of rows) {
      try {
        const data = { tenantId: row.tenant_id, messageId: row.id, attempt: row.attempt_count }
        await (replace ? queue.requeue(data) : queue.enqueue(data))
      } catch (error) {
        // Stored is enough: the sweeper enqueues due messages Redis never got.
        logger.warn({ err: { message: (error as Error).message }, messageId: row.id }, 'outbound webhook enqueue failed; the sweeper will retry it')
      }
    }
  }

  async function loadEndpoint(tenantId: string, id: string): Promise<EndpointRow> {
    const row = await db.withTenant(tenantId, (trx) => repo.findEndpoint(trx, id))
    if (!row) throw new WebhookEndpointNotFoundError()
    return row
  }

  /**
   * One message per enabled endpoint of the event's tenant that subscribes to its type and venue,
   * then a delivery job each. Idempotent: the same event again inserts and sends nothing new (a
   * message not yet attempted is enqueued again under the same job id, which Bull keeps once).
   */
  async function fanOut(event: HubEvent): Promise<{ messages: number }> {
    const created = await db.withTenant(event.tenantId, async (trx) => {
      const targets = await repo.matchingEndpoints(trx, event.type, event.venueId)
      const rows = await repo.insertMessages(
        trx,
        targets.map((endpoint) => ({ tenant_id: event.tenantId, endpoint_id: endpoint.id, event_id: event.id, event_type: event.type, payload: event as unknown as Record<string, unknown> })),
      )
      return rows
    })
    await enqueueAll(created.filter((row) => row.status === 'pending' && row.attempt_count === 0))
    return { messages: created.length }
  }

  /** Makes one attempt of a message; what the Bull processor runs. Returns what became of it. */
  async function processDelivery(job: DeliveryJobData): Promise<'skipped' | MessageStatus> {
    const claimed = await db.withTenant(job.tenantId, async (trx) => {
      const message = await repo.claimMessage(trx, job.messageId, job.attempt, rules.leaseMs)
      if (!message) return null
      return { message, endpoint: await repo.findEndpoint(trx, message.endpoint_id) }
    })
    if (!claimed) return 'skipped'
    const { message, endpoint } = claimed
    if (!endpoint || !endpoint.enabled) {
      await db.withTenant(job.tenantId, (trx) => repo.settleMessage(trx, message.id, { status: 'failed', error: 'endpoint disabled' }))
      return 'failed'
    }
    const result = await deps.deliver({ url: endpoint.url, messageId: message.id, body: JSON.stringify(message.payload), secrets: signingSecrets(endpoint) })
    if (result.refusal && result.refusal.reason !== 'unresolvable') reportRefusal(result.refusal, { tenantId: endpoint.tenant_id, actor: null, stage: 'delivery', endpointId: endpoint.id })

    const nextStep = message.retry_step + 1
    const retryIn = result.outcome === 'succeeded' ? null : rules.schedule[nextStep]
    const recording = db.withTenant(job.tenantId, async (trx) => {
      await repo.insertAttempt(trx, {
        tenant_id: message.tenant_id,
        message_id: message.id,
        endpoint_id: endpoint.id,
        attempt_number: message.attempt_count,
        outcome: result.outcome,
        response_status: result.responseStatus,
        latency_ms: result.latencyMs,
        response_snippet: result.responseSnippet,
        error: result.error?.slice(0, 500) ?? null,
      })
      if (result.outcome === 'succeeded') {
        await repo.recordEndpointSuccess(trx, endpoint.id)
        return repo.settleMessage(trx, message.id, { status: 'succeeded' })
      }
      const error = result.error ?? 'failed'
      const row = await repo.settleMessage(trx, message.id, retryIn === undefined ? { status: 'failed', error } : { status: 'pending', error, retryStep: nextStep, delayMs: retryIn as number })
      const disabledRow = await repo.recordEndpointFailure(trx, endpoint.id, { afterMs: rules.disableAfterMs, afterFailures: rules.disableAfterFailures })
      if (!disabledRow) return row
      await audit.record(trx, {
        tenantId: disabledRow.tenant_id,
        actorType: 'service',
        actorId: 'integration-worker',
        action: 'webhook_endpoint.disabled',
        entityType: 'webhook_endpoint',
        entityId: disabledRow.id,
        after: forAudit(toEndpoint(disabledRow)),
      })
      // Through the outbox like every hub event: the bus brings it back to fanOut, so the tenant's
      // other endpoints hear it.
      await publishEvent(trx, endpointDisabledEvent(disabledRow))
      return row
    })
    const settled = await recording.catch((error: unknown) => {
      // The claim already pushed next_attempt_at out by the lease, so the sweeper sends the message
      // again with nothing recorded: without this line a lasting failure repeats unseen.
      logger.warn(
        { err: { message: (error as Error).message, code: (error as { code?: string }).code }, messageId: message.id, attempt: message.attempt_count, outcome: result.outcome },
        'outbound webhook attempt not recorded; the message will be sent again after its lease',
      )
      throw error
    })
    if (settled.status === 'pending' && retryIn !== undefined && retryIn !== null) {
      await queue.enqueue({ tenantId: job.tenantId, messageId: message.id, attempt: settled.attempt_count }, retryIn).catch((error: unknown) => {
        logger.warn({ err: { message: (error as Error).message }, messageId: message.id }, 'outbound webhook retry enqueue failed; the sweeper will retry it')
      })
    }
    return settled.status
  }

  /**
   * Makes the due messages of every tenant run (lost jobs, lapsed leases, failed enqueues, jobs
   * that failed before their claim). The batch is the longest due: it cannot starve the rest,
   * because every message in it gets a job that runs, and a run either claims it (its next attempt
   * moves out by the lease) or fails and is requeued by the next pass.
   */
  async function sweep(limit = 500): Promise<number> {
    const due = await db.withSystemScope((trx) => repo.dueMessages(trx, limit))
    for (const row of due) {
      try {
        await queue.requeue({ tenantId: row.tenant_id, messageId: row.id, attempt: row.attempt_count })
      } catch (error) {
        // One message Bull cannot take must not keep the batch behind it waiting: each pass
        // starts again from the longest due.
        logger.warn({ err: { message: (error as Error).message }, messageId: row.id }, 'outbound webhook requeue failed; the next sweep will retry it')
      }
    }
    return due.length
  }

  return {
    fanOut,
    processDelivery,
    sweep,

    async createEndpoint(ctx: RequestContext, input: EndpointInput) {
      const actor = auditActor(ctx)
      await checkUrl(ctx, input.url)
      const id = randomUUID()
      const secret = generateSigningSecret()
      const endpoint = await db.withTenant(actor.tenantId, async (trx) => {
        const row = await repo.insertEndpoint(trx, {
          id,
          tenant_id: actor.tenantId,
          url: input.url,
          description: input.description ?? '',
          event_types: [...new Set(input.eventTypes)],
          venue_id: input.venueId?.toLowerCase() ?? null,
          ...seal(actor.tenantId, id, { signingSecret: secret }),
        })
        const view = toEndpoint(row)
        await audit.record(trx, { ...actor, action: 'webhook_endpoint.created', entityType: 'webhook_endpoint', entityId: id, after: forAudit(view) })
        return view
      })
      // The only time the secret is shown.
      return { ...endpoint, secret }
    },

    async getEndpoint(ctx: RequestContext, id: string) {
      return toEndpoint(await loadEndpoint(ctx.principal.tenantId, id))
    },

    async listEndpoints(ctx: RequestContext, query: { cursor?: string | undefined; limit: number }) {
      const after = query.cursor ? readCursor(query.cursor, PageCursor) : undefined
      const rows = await db.withTenant(ctx.principal.tenantId, (trx) => repo.listEndpoints(trx, { after: after ? { createdAt: after.c, id: after.i } : undefined, limit: query.limit + 1 }))
      return page(rows, query.limit, toEndpoint)
    },

    async updateEndpoint(ctx: RequestContext, id: string, patch: EndpointPatch) {
      const actor = auditActor(ctx)
      if (patch.url !== undefined) await checkUrl(ctx, patch.url, id)
      return db.withTenant(actor.tenantId, async (trx) => {
        const before = await repo.findEndpoint(trx, id, { forUpdate: true })
        if (!before) throw new WebhookEndpointNotFoundError()
        const changes: Partial<EndpointRow> = {}
        if (patch.url !== undefined) changes.url = patch.url
        if (patch.description !== undefined) changes.description = patch.description
        if (patch.eventTypes !== undefined) changes.event_types = [...new Set(patch.eventTypes)]
        if (patch.venueId !== undefined) changes.venue_id = patch.venueId?.toLowerCase() ?? null
        if (patch.enabled === true && !before.enabled) Object.assign(changes, { enabled: true, disabled_reason: null, disabled_at: null, consecutive_failures: 0, failing_since: null })
        if (patch.enabled === false && before.enabled) Object.assign(changes, { enabled: false, disabled_reason: 'manual', disabled_at: new Date() })
        const view = toEndpoint(await repo.updateEndpoint(trx, id, changes))
        await audit.record(trx, { ...actor, action: 'webhook_endpoint.updated', entityType: 'webhook_endpoint', entityId: id, before: forAudit(toEndpoint(before)), after: forAudit(view) })
        return view
      })
    },

    async deleteEndpoint(ctx: RequestContext, id: string) {
      const actor = auditActor(ctx)
      await db.withTenant(actor.tenantId, async (trx) => {
        const before = await repo.findEndpoint(trx, id, { forUpdate: true })
        if (!before) throw new WebhookEndpointNotFoundError()
        await repo.deleteEndpoint(trx, id)
        await audit.record(trx, { ...actor, action: 'webhook_endpoint.deleted', entityType: 'webhook_endpoint', entityId: id, before: forAudit(toEndpoint(before)) })
      })
    },

    /**
     * A new secret, shown once; the old one keeps signing (a second `v1,` entry) until the overlap
     * ends, so receivers can switch over without dropping a delivery.
     */
    async rotateSecret(ctx: RequestContext, id: string, overlapSeconds: number) {
      const actor = auditActor(ctx)
      const secret = generateSigningSecret()
      const endpoint = await db.withTenant(actor.tenantId, async (trx) => {
        const before = await repo.findEndpoint(trx, id, { forUpdate: true })
        if (!before) throw new WebhookEndpointNotFoundError()
        const current = decryptSecret(ring, before.secrets.signingSecret as string, aad(before.tenant_id, before.id, 'signingSecret'))
        const sealed = seal(before.tenant_id, id, overlapSeconds > 0 ? { signingSecret: secret, previousSigningSecret: current } : { signingSecret: secret })
        const row = await repo.updateEndpoint(trx, id, { ...sealed, previous_secret_expires_at: overlapSeconds > 0 ? new Date(Date.now() + overlapSeconds * 1000) : null })
        const view = toEndpoint(row)
        await audit.record(trx, { ...actor, action: 'webhook_endpoint.secret_rotated', entityType: 'webhook_endpoint', entityId: id, after: { previousSecretExpiresAt: view.previousSecretExpiresAt } })
        return view
      })
      return { ...endpoint, secret }
    },

    /** Sends a `webhook.ping` message to the endpoint now (through the queue, like any other). */
    async sendTest(ctx: RequestContext, id: string) {
      const tenantId = ctx.principal.tenantId
      const endpoint = await loadEndpoint(tenantId, id)
      if (!endpoint.enabled) throw new WebhookEndpointDisabledError()
      const eventId = randomUUID()
      const ping = { id: eventId, type: PING_EVENT_TYPE, version: 1, tenantId, venueId: endpoint.venue_id, connectionId: null, occurredAt: new Date().toISOString(), data: { endpointId: id } }
      const [row] = await db.withTenant(tenantId, (trx) => repo.insertMessages(trx, [{ tenant_id: tenantId, endpoint_id: id, event_id: eventId, event_type: PING_EVENT_TYPE, payload: ping }]))
      await enqueueAll(row ? [row] : [])
      return toMessage(row as MessageRow)
    },

    async listMessages(ctx: RequestContext, endpointId: string, query: { status?: MessageStatus | undefined; eventType?: string | undefined; cursor?: string | undefined; limit: number }) {
      const after = query.cursor ? readCursor(query.cursor, PageCursor) : undefined
      await loadEndpoint(ctx.principal.tenantId, endpointId)
      const rows = await db.withTenant(ctx.principal.tenantId, (trx) =>
        repo.listMessages(trx, endpointId, { status: query.status, eventType: query.eventType, after: after ? { createdAt: after.c, id: after.i } : undefined, limit: query.limit + 1 }),
      )
      return page(rows, query.limit, toMessage)
    },

    async listAttempts(ctx: RequestContext, endpointId: string, messageId: string, query: { outcome?: AttemptOutcome | undefined; cursor?: string | undefined; limit: number }) {
      const after = query.cursor ? readCursor(query.cursor, PageCursor) : undefined
      const rows = await db.withTenant(ctx.principal.tenantId, async (trx) => {
        const message = await repo.findMessage(trx, messageId)
        if (!message || message.endpoint_id !== endpointId) throw new WebhookMessageNotFoundError()
        return repo.listAttempts(trx, messageId, { outcome: query.outcome, after: after ? { createdAt: after.c, id: after.i } : undefined, limit: query.limit + 1 })
      })
      return page(rows, query.limit, toAttempt)
    },

    /** Sends a message again (same webhook-id, so a receiver that has it can tell), from the start of the schedule. */
    async replay(ctx: RequestContext, endpointId: string, messageId: string) {
      const actor = auditActor(ctx)
      const row = await db.withTenant(actor.tenantId, async (trx) => {
        const endpoint = await repo.findEndpoint(trx, endpointId)
        if (!endpoint) throw new WebhookEndpointNotFoundError()
        const message = await repo.findMessage(trx, messageId)
        if (!message || message.endpoint_id !== endpointId) throw new WebhookMessageNotFoundError()
        if (!endpoint.enabled) throw new WebhookEndpointDisabledError()
        const replayed = await repo.resetForReplay(trx, messageId)
        await audit.record(trx, { ...actor, action: 'webhook_message.replayed', entityType: 'webhook_message', entityId: messageId, after: { endpointId, eventId: message.event_id, eventType: message.event_type } })
        return replayed
      })
      await enqueueAll([row], true)
      return toMessage(row)
    },
  }
}

export type OutboundWebhookService = ReturnType<typeof createOutboundWebhookService>
