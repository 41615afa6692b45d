// Which provider identifier binds a webhook event to one connection, checked after the signature.
// A valid signature proves who sent the bytes; it does not prove the event is about the account
// the connection holds (a shared secret, a secret copied between connections, a provider-side
// mix-up). An event naming another account is refused, never stored under this connection.
//
// | provider   | signature key (what authenticates)                  | identifier checked against the connection     |
// |------------|------------------------------------------------------|-----------------------------------------------|
// | Stripe     | the endpoint's own whsec_ secret (one per connection) | `account` (Connect), when present = account_id |
// | Square     | the subscription's signature key (one per connection) | `merchant_id` = account_id                    |
// | Mailchimp  | the random secret in the registered URL (per connection) | `data[list_id]` ∈ the audiences registered (webhook_endpoint_id) |
// | QuickBooks | the app's verifier token (one per app, all realms)   | `realmId` = account_id; events are routed by it (webhook-intake.ts) |
import type { ProviderName } from './canonical.ts'
import type { NormalizedWebhookEvent } from './provider-adapter.ts'

export interface BindingTarget {
  provider: ProviderName
  /** Stripe account, Square merchant, QuickBooks realm: what the credentials opened. */
  account_id: string | null
  /** Mailchimp: `<listId>:<webhookId>,...`, the audiences the hub's URL is registered on. */
  webhook_endpoint_id: string | null
}

function mailchimpLists(endpointId: string | null): Set<string> | null {
  if (!endpointId) return null
  return new Set(
    endpointId
      .split(',')
      .map((entry) => entry.split(':')[0] ?? '')
      .filter(Boolean),
  )
}

/**
 * True when the event is about the connection's own account. An unknown connection identifier
 * (a connection made before it was recorded, or a Mailchimp secret supplied by hand) cannot be
 * checked and is accepted: the per-connection secret still authenticates the sender.
 */
export function eventBelongsTo(event: NormalizedWebhookEvent, connection: BindingTarget): boolean {
  switch (connection.provider) {
    case 'stripe':
      return event.accountId === null || connection.account_id === null || event.accountId === connection.account_id
    case 'square':
      return connection.account_id === null || event.accountId === connection.account_id
    case 'quickbooks':
      return event.accountId !== null && event.accountId === connection.account_id
    case 'mailchimp': {
      const lists = mailchimpLists(connection.webhook_endpoint_id)
      return lists === null || (event.accountId !== null && lists.has(event.accountId))
    }
  }
}
