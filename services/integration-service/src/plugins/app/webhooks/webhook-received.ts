// `integration.webhook.received`: published when a stored event is handed to the queue, before its
// job exists (so it comes before whatever processing the event publishes), once per inbox row
// (`announced_at` is the guard); a batch of hand-overs shares one transaction, and the
// acknowledgement's own transaction stays as short as it can be.
import type { Knex } from 'knex'
import type { EntityName, ProviderName } from '../../../providers/canonical.ts'
import { publishEvent } from '../events/event-outbox-repository.ts'
import type { ConnectionRepository } from '../connections/connection-repository.ts'
import type { WebhookInboxRepository } from './webhook-inbox-repository.ts'

/** Publishes `integration.webhook.received` for the rows of `ids` not announced yet (call inside the tenant's `withTenant`); returns how many. */
export async function announceReceived(trx: Knex.Transaction, repositories: { inbox: Pick<WebhookInboxRepository, 'markAnnounced'>; connections: Pick<ConnectionRepository, 'venuesOf'> }, ids: string[]): Promise<number> {
  const rows = await repositories.inbox.markAnnounced(trx, ids)
  const venues = await repositories.connections.venuesOf(trx, [...new Set(rows.map((row) => row.connection_id))])
  for (const row of rows) {
    const venueId = venues.get(row.connection_id)
    // Cannot happen while the row exists (it is deleted with its connection): skipped, never published without a venue.
    if (venueId === undefined) continue
    await publishEvent(trx, {
      type: 'integration.webhook.received',
      tenantId: row.tenant_id,
      venueId,
      connectionId: row.connection_id,
      data: { inboxId: row.id, provider: row.provider as ProviderName, eventType: row.event_type, entity: row.entity as EntityName | null, externalId: row.external_id },
    })
  }
  return rows.length
}
