// Intuit webhooks: one endpoint and verifier token per app, configured in the developer portal
// (here through the control API), receiving every connected company's changes as
// `eventNotifications`. The `intuit-signature` header is base64(HMAC-SHA256(verifier token, raw
// body)); there is no timestamp in the scheme.
import { createHmac, randomUUID } from 'node:crypto'
import type { ChangeOperation, QboEntityName, QboRealm } from './quickbooks-store.ts'
import { formatIntuitTime } from './quickbooks-time.ts'

export interface WebhookConfig {
  url: string
  verifierToken: string
  /** Deliver a notification on every change, as Intuit does (a few minutes late at Intuit). */
  autoDeliver: boolean
}

export interface WebhookEntityChange {
  name: string
  id: string
  operation: string
  lastUpdated: string
  deletedId?: string
}

export interface WebhookDelivery {
  url: string
  headers: Record<string, string>
  body: string
  status: number | null
  error?: string
}

/** Webhook timestamps carry the offset without a colon: `2015-10-05T14:42:19-0700`. */
export function webhookTime(ms: number): string {
  return formatIntuitTime(ms).replace(/([+-]\d{2}):(\d{2})$/, '$1$2')
}

export function signIntuitPayload(verifierToken: string, rawBody: string | Buffer): string {
  return createHmac('sha256', verifierToken).update(rawBody).digest('base64')
}

export function buildNotificationBody(realmId: string, entities: WebhookEntityChange[]): string {
  return JSON.stringify({ eventNotifications: [{ realmId, dataChangeEvent: { entities } }] })
}

export class QboWebhooks {
  config: WebhookConfig | null = null
  readonly deliveries: WebhookDelivery[] = []
  readonly #pending = new Set<Promise<unknown>>()

  configure(url: string, verifierToken?: string, autoDeliver = false): WebhookConfig {
    this.config = { url, verifierToken: verifierToken ?? randomUUID(), autoDeliver }
    return this.config
  }

  async deliver(url: string, verifierToken: string, body: string): Promise<WebhookDelivery> {
    const headers = {
      'content-type': 'application/json',
      'intuit-signature': signIntuitPayload(verifierToken, body),
      'user-agent': 'intuit-webhooks-simulator/1.0',
    }
    const delivery: WebhookDelivery = { url, headers, body, status: null }
    try {
      const response = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) })
      delivery.status = response.status
      await response.arrayBuffer()
    } catch (error) {
      delivery.error = error instanceof Error ? error.message : String(error)
    }
    this.deliveries.push(delivery)
    return delivery
  }

  /** Change listener for the realm registry; fire-and-forget like Intuit's own delivery. */
  onChange(realm: QboRealm, entity: QboEntityName, id: string, operation: ChangeOperation, atMs: number): void {
    const config = this.config
    if (!config?.autoDeliver) return
    const body = buildNotificationBody(realm.realmId, [{ name: entity, id, operation, lastUpdated: webhookTime(atMs) }])
    const pending = this.deliver(config.url, config.verifierToken, body)
    this.#pending.add(pending)
    void pending.finally(() => this.#pending.delete(pending))
  }

  /** Waits for in-flight automatic deliveries (used when the simulator closes). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#pending])
  }
}
