// Provider webhooks in: verify the signature on the exact bytes received, store every event in the
// inbox (unique per provider, connection and event id) in this request, answer 2xx, and only then
// hand the new rows to the critical queue. A resent event is answered 2xx and stored once; a row
// that never reached Redis is picked up again by the relay.
import type { SecurityEventReporter } from '@hub/contracts'
import { AppError, BadRequestError, NotFoundError } from '@hub/contracts'
import { findBadString, JsonTooDeepError, MAX_JSON_DEPTH, parseJsonBounded, type Database } from '@hub/service-kit'
import type { ProviderName } from '../../../providers/canonical.ts'
import type { NormalizedWebhookEvent } from '../../../providers/provider-adapter.ts'
import { WebhookVerificationError } from '../../../providers/provider-errors.ts'
import type { ProviderRegistry } from '../../../providers/registry.ts'
import type { ConnectionRepository } from '../connections/connection-repository.ts'
import type { CredentialVault } from '../connections/credential-vault.ts'

export class WebhookSignatureError extends AppError {
  constructor() {
    super(401, 'WEBHOOK_SIGNATURE_INVALID', 'Unauthorized', 'The webhook signature does not verify.')
  }
}

/** True when the body is JSON nested deeper than the kit allows (scanned, never recursed into). */
function tooDeep(rawBody: Buffer): boolean {
  try {
    parseJsonBounded(rawBody.toString('utf8'), MAX_JSON_DEPTH)
    return false
  } catch (error) {
    return error instanceof JsonTooDeepError
  }
}

export interface StoredWebhook {
  inboxId: string
  tenantId: string
  connectionId: string
}

export function createWebhookIntake(deps: {
  db: Pick<Database, 'withTenant' | 'withSystemScope'>
  connections: ConnectionRepository
  vault: CredentialVault
  registry: ProviderRegistry
  securityEvents: SecurityEventReporter
  publicUrl: string
  logger?: { warn(details: object, message: string): void }
}) {
  const notFound = () => new NotFoundError('WEBHOOK_ENDPOINT_NOT_FOUND', 'No webhook endpoint here.')

  return {
    /** Returns the inbox rows that were new (duplicates are acknowledged and dropped). */
    async receive(input: { provider: ProviderName; connectionId: string; rawBody: Buffer; headers: Record<string, string | string[] | undefined>; url: string; ip: string; requestId: string }): Promise<{ stored: StoredWebhook[]; duplicates: number; ignored: number }> {
      // The provider knows only the URL: find the connection (and its tenant) by id alone.
      const connection = await deps.db.withSystemScope((trx) => deps.connections.findById(trx, input.connectionId))
      if (!connection || connection.provider !== input.provider || connection.status === 'disconnected') throw notFound()
      const secret = deps.vault.open(connection.tenant_id, connection.id, connection.secrets).webhookSecret
      if (!secret) throw notFound()

      // Before any parser recurses into it: a body nested thousands deep is refused as a 400 (not
      // a signature failure, so no security event; and never a 5xx a provider would retry forever).
      if (tooDeep(input.rawBody)) throw new BadRequestError('WEBHOOK_PAYLOAD_TOO_DEEP', `The payload is nested more than ${MAX_JSON_DEPTH} levels deep.`)

      let events: NormalizedWebhookEvent[]
      try {
        events = deps.registry[input.provider].adapter.verifyWebhook({ rawBody: input.rawBody, headers: input.headers, url: `${deps.publicUrl.replace(/\/$/, '')}${input.url}`, secret })
      } catch (error) {
        if (!(error instanceof WebhookVerificationError)) throw error
        deps.securityEvents.report({
          type: 'INVALID_SIGNATURE',
          severity: 'high',
          source: 'integration-service',
          code: `WEBHOOK_${error.reason.toUpperCase()}`,
          tenantId: connection.tenant_id,
          actor: input.provider,
          ip: input.ip,
          method: 'POST',
          path: input.url.split('?')[0] ?? input.url,
          requestId: input.requestId,
          details: { connectionId: connection.id },
        })
        throw new WebhookSignatureError()
      }

      // An authentic event Postgres cannot store (a NUL byte or an unpaired surrogate in any string)
      // is acknowledged and dropped with a warning: refusing it would only make the provider retry.
      const storable = events.filter((event) => findBadString([event.eventId, event.type, event.externalId, event.raw ?? null], '') === null)
      const ignored = events.length - storable.length
      if (ignored > 0) deps.logger?.warn({ provider: input.provider, connectionId: connection.id, ignored }, 'webhook events with unstorable strings acknowledged and dropped')
      events = storable
      if (events.length === 0) return { stored: [], duplicates: 0, ignored }
      const rows = await deps.db.withTenant(connection.tenant_id, (trx) =>
        trx('integration.webhook_inbox')
          .insert(
            events.map((event) => ({
              tenant_id: connection.tenant_id,
              connection_id: connection.id,
              provider: input.provider,
              event_id: event.eventId.slice(0, 255),
              event_type: event.type.slice(0, 255),
              entity: event.entity,
              external_id: event.externalId,
              payload: JSON.stringify(event.raw ?? {}),
            })),
          )
          .onConflict(['provider', 'connection_id', 'event_id'])
          .ignore()
          .returning('id'),
      )
      return { stored: rows.map((row: { id: string }) => ({ inboxId: row.id, tenantId: connection.tenant_id, connectionId: connection.id })), duplicates: events.length - rows.length, ignored }
    },
  }
}

export type WebhookIntake = ReturnType<typeof createWebhookIntake>
