// List webhooks as Mailchimp sends them: an unsigned application/x-www-form-urlencoded POST with
// PHP-style bracketed keys (`data[merges][FNAME]`). Mailchimp has no signature scheme, so a
// receiver authenticates by a secret it put in the URL it registered; the simulator posts to that
// URL verbatim. On registration Mailchimp first GETs the URL and refuses it unless it answers 2xx.
import { webhookFiredAt } from './mailchimp-time.ts'
import type { SimList, SimMember, SimWebhook, WebhookEventType } from './mailchimp-store.ts'

export const WEBHOOK_USER_AGENT = 'MailChimp'
const DELIVERY_TIMEOUT_MS = 10_000
const VALIDATION_TIMEOUT_MS = 5_000

function mergeEntries(member: SimMember): Array<[string, string]> {
  const entries: Array<[string, string]> = [['data[merges][EMAIL]', member.email_address]]
  for (const [key, value] of Object.entries(member.merge_fields)) entries.push([`data[merges][${key}]`, value])
  return entries
}

export interface WebhookPayloadOptions {
  type: WebhookEventType
  list: SimList
  member: SimMember
  nowMs: number
  /** upemail: the new address (defaults to a derived one). */
  newEmail?: string
}

/** The form fields of one event, in Mailchimp's order. */
export function webhookPayload(options: WebhookPayloadOptions): URLSearchParams {
  const { type, list, member, nowMs } = options
  const form = new URLSearchParams()
  form.append('type', type)
  form.append('fired_at', webhookFiredAt(nowMs))
  const add = (key: string, value: string | number): void => form.append(`data[${key}]`, String(value))
  switch (type) {
    case 'subscribe':
    case 'profile':
    case 'unsubscribe':
      if (type === 'unsubscribe') {
        add('action', 'unsub')
        add('reason', 'manual')
      }
      add('id', member.unique_email_id)
      add('list_id', list.id)
      add('email', member.email_address)
      add('email_type', member.email_type)
      add('web_id', member.web_id)
      for (const [key, value] of mergeEntries(member)) form.append(key, value)
      add('ip_opt', member.ip_opt)
      if (type === 'subscribe') add('ip_signup', member.ip_signup || member.ip_opt)
      if (type === 'unsubscribe') add('campaign_id', '')
      break
    case 'upemail': {
      const newEmail = options.newEmail ?? member.email_address.replace('@', '+new@')
      add('list_id', list.id)
      add('new_id', member.unique_email_id)
      add('new_email', newEmail)
      add('old_email', member.email_address)
      break
    }
    case 'cleaned':
      add('list_id', list.id)
      add('campaign_id', '')
      add('reason', 'hard')
      add('email', member.email_address)
      break
    case 'campaign':
      add('id', member.unique_email_id.slice(0, 10))
      add('subject', 'This week at the venue')
      add('status', 'sent')
      add('reason', '')
      add('list_id', list.id)
      break
  }
  return form
}

export interface DeliveryResult {
  url: string
  webhookId: string | null
  body: string
  status: number | null
  error?: string
}

export async function deliver(url: string, webhook: SimWebhook | null, body: string): Promise<DeliveryResult> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': WEBHOOK_USER_AGENT },
      body,
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    })
    await response.arrayBuffer()
    return { url, webhookId: webhook?.id ?? null, body, status: response.status }
  } catch (error) {
    return { url, webhookId: webhook?.id ?? null, body, status: null, error: (error as Error).message }
  }
}

/** Mailchimp's registration-time check: a plain GET that must answer 2xx. */
export async function validateWebhookUrl(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { method: 'GET', headers: { 'user-agent': WEBHOOK_USER_AGENT }, signal: AbortSignal.timeout(VALIDATION_TIMEOUT_MS) })
    await response.arrayBuffer()
    return response.ok
  } catch {
    return false
  }
}
