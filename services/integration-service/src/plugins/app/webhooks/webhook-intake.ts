// Provider webhooks in: verify the signature on the exact bytes received, store every event in the
// inbox (unique per provider, connection and event id) in this request, answer 2xx, and only then
// hand the new rows to the critical queue. A resent event is answered 2xx and stored once; a row
// that never reached Redis is picked up again by the relay.
import { randomBytes } from 'node:crypto'
import type { SecurityEventReporter } from '@hub/contracts'
import { AppError } from '@hub/contracts'
import type { Database } from '@hub/service-kit'
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
}) {
  // An unknown connection id is answered exactly like a bad signature (same status, code and
  // body), after the same verification work against a secret nobody knows: the answer and its
  // timing must not tell an anonymous caller which connection ids exist.
  const decoySecret = randomBytes(32).toString('base64url')

  function refuse(input: { provider: ProviderName; url: string; ip: string; requestId: string }, code: string, tenantId: string | null, details: Record<string, unknown>): never {
    deps.securityEvents.report({
      type: 'INVALID_SIGNATURE',
      severity: 'high',
      source: 'integration-service',
      code,
      tenantId,
      actor: input.provider,
      ip: input.ip,
      method: 'POST',
      path: input.url.split('?')[0] ?? input.url,
      requestId: input.requestId,
      details,
    })
    throw new WebhookSignatureError()
  }

  function verify(provider: ProviderName, input: { rawBody: Buffer; headers: Record<string, string | string[] | undefined>; url: string }, secret: string): NormalizedWebhookEvent[] | WebhookVerificationError {
    try {
      return deps.registry[provider].adapter.verifyWebhook({ rawBody: input.rawBody, headers: input.headers, url: `${deps.publicUrl.replace(/\/$/, '')}${input.url}`, secret })
    } catch (error) {
      if (error instanceof WebhookVerificationError) return error
      throw error
    }
  }

  return {
    /** Returns the inbox rows that were new (duplicates are acknowledged and dropped). */
    async receive(input: { provider: ProviderName; connectionId: string; rawBody: Buffer; headers: Record<string, string | string[] | undefined>; url: string; ip: string; requestId: string }): Promise<{ stored: StoredWebhook[]; duplicates: number }> {
      // The provider knows only the URL: find the connection (and its tenant) by id alone.
      const connection = await deps.db.withSystemScope((trx) => deps.connections.findById(trx, input.connectionId))
      const usable = connection && connection.provider === input.provider && connection.status !== 'disconnected' ? connection : null
      const secret = usable ? deps.vault.open(usable.tenant_id, usable.id, usable.secrets).webhookSecret : undefined
      if (!usable || !secret) {
        verify(input.provider, input, decoySecret)
        return refuse(input, 'WEBHOOK_UNKNOWN_ENDPOINT', null, { connectionId: input.connectionId })
      }

      const events = verify(input.provider, input, secret)
      if (events instanceof WebhookVerificationError) return refuse(input, `WEBHOOK_${events.reason.toUpperCase()}`, usable.tenant_id, { connectionId: usable.id })
      if (events.length === 0) return { stored: [], duplicates: 0 }
      const rows = await deps.db.withTenant(usable.tenant_id, (trx) =>
        trx('integration.webhook_inbox')
          .insert(
            events.map((event) => ({
              tenant_id: usable.tenant_id,
              connection_id: usable.id,
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
      return { stored: rows.map((row: { id: string }) => ({ inboxId: row.id, tenantId: usable.tenant_id, connectionId: usable.id })), duplicates: events.length - rows.length }
    },
  }
}

export type WebhookIntake = ReturnType<typeof createWebhookIntake>
