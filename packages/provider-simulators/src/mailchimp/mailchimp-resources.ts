// Wire shapes of the resources, field for field as Mailchimp's Marketing API 3.0 returns them
// (the subset of fields a sync reads, plus the HATEOAS `_links` that make real pages heavy).
import { mailchimpTimestamp } from './mailchimp-time.ts'
import type { SimAccount, SimList, SimMember, SimWebhook } from './mailchimp-store.ts'

interface Link {
  rel: string
  href: string
  method: string
  targetSchema?: string
  schema?: string
}

const API = 'https://us1.api.mailchimp.com/3.0'
const SCHEMA = 'https://us1.api.mailchimp.com/schema/3.0'

function link(rel: string, href: string, method: string, schema?: string): Link {
  return { rel, href, method, ...(schema ? { targetSchema: `${SCHEMA}/${schema}` } : {}) }
}

export function memberJson(member: SimMember, list: SimList): Record<string, unknown> {
  const self = `${API}/lists/${list.id}/members/${member.id}`
  const fname = member.merge_fields.FNAME ?? ''
  const lname = member.merge_fields.LNAME ?? ''
  return {
    id: member.id,
    email_address: member.email_address,
    unique_email_id: member.unique_email_id,
    contact_id: member.contact_id,
    full_name: `${fname} ${lname}`.trim(),
    web_id: member.web_id,
    email_type: member.email_type,
    status: member.status,
    consents_to_one_to_one_messaging: true,
    merge_fields: { ...member.merge_fields },
    stats: { avg_open_rate: 0, avg_click_rate: 0 },
    ip_signup: member.ip_signup,
    timestamp_signup: member.timestamp_signup,
    ip_opt: member.ip_opt,
    timestamp_opt: member.timestamp_opt,
    member_rating: member.member_rating,
    last_changed: mailchimpTimestamp(member.lastChangedMs),
    language: member.language,
    vip: member.vip,
    email_client: '',
    location: { latitude: 0, longitude: 0, gmtoff: 0, dstoff: 0, country_code: '', timezone: '', region: '' },
    source: member.source,
    tags_count: member.tags.length,
    tags: member.tags.map((tag) => ({ ...tag })),
    list_id: list.id,
    _links: [
      link('self', self, 'GET', 'Lists/Members/Response.json'),
      link('parent', `${API}/lists/${list.id}/members`, 'GET', 'Lists/Members/CollectionResponse.json'),
      link('update', self, 'PATCH', 'Lists/Members/Response.json'),
      link('upsert', self, 'PUT', 'Lists/Members/Response.json'),
      link('delete', self, 'DELETE'),
      link('activity', `${self}/activity`, 'GET', 'Lists/Members/Activity/Response.json'),
      link('goals', `${self}/goals`, 'GET', 'Lists/Members/Goals/Response.json'),
      link('notes', `${self}/notes`, 'GET', 'Lists/Members/Notes/CollectionResponse.json'),
      link('events', `${self}/events`, 'POST'),
      link('delete_permanent', `${self}/actions/delete-permanent`, 'POST'),
    ],
  }
}

export function listJson(list: SimList, account: SimAccount): Record<string, unknown> {
  let subscribed = 0
  let unsubscribed = 0
  let cleaned = 0
  let lastSubMs = 0
  let lastUnsubMs = 0
  for (const member of list.members) {
    if (member.status === 'subscribed') {
      subscribed++
      lastSubMs = Math.max(lastSubMs, member.lastChangedMs)
    } else if (member.status === 'unsubscribed') {
      unsubscribed++
      lastUnsubMs = Math.max(lastUnsubMs, member.lastChangedMs)
    } else if (member.status === 'cleaned') cleaned++
  }
  const self = `${API}/lists/${list.id}`
  return {
    id: list.id,
    web_id: list.web_id,
    name: list.name,
    contact: { company: account.name, address1: '1 Theatre Row', address2: '', city: 'London', state: '', zip: 'WC2N 5DU', country: 'GB', phone: '' },
    permission_reminder: 'You are receiving this email because you bought a ticket or signed up at our box office.',
    use_archive_bar: true,
    campaign_defaults: { from_name: account.name, from_email: account.email, subject: '', language: 'en' },
    notify_on_subscribe: '',
    notify_on_unsubscribe: '',
    date_created: mailchimpTimestamp(list.dateCreatedMs),
    list_rating: 3,
    email_type_option: false,
    subscribe_url_short: `http://eepurl.com/${list.id.slice(0, 6)}`,
    subscribe_url_long: `https://example.us1.list-manage.com/subscribe?u=${account.id}&id=${list.id}`,
    beamer_address: `us1-${list.id}@inbound.mailchimp.com`,
    visibility: 'pub',
    double_optin: false,
    has_welcome: false,
    marketing_permissions: false,
    modules: [],
    stats: {
      member_count: subscribed,
      unsubscribe_count: unsubscribed,
      cleaned_count: cleaned,
      member_count_since_send: subscribed,
      unsubscribe_count_since_send: unsubscribed,
      cleaned_count_since_send: cleaned,
      campaign_count: 0,
      campaign_last_sent: '',
      merge_field_count: 5,
      avg_sub_rate: 0,
      avg_unsub_rate: 0,
      target_sub_rate: 0,
      open_rate: 0,
      click_rate: 0,
      last_sub_date: lastSubMs ? mailchimpTimestamp(lastSubMs) : '',
      last_unsub_date: lastUnsubMs ? mailchimpTimestamp(lastUnsubMs) : '',
    },
    _links: [
      link('self', self, 'GET', 'Lists/Instance.json'),
      link('parent', `${API}/lists`, 'GET', 'Lists/CollectionResponse.json'),
      link('update', self, 'PATCH', 'Lists/Instance.json'),
      link('batch-sub-unsub-members', self, 'POST', 'Lists/BatchPOST-Response.json'),
      link('delete', self, 'DELETE'),
      link('members', `${self}/members`, 'GET', 'Lists/Members/CollectionResponse.json'),
      link('webhooks', `${self}/webhooks`, 'GET', 'Lists/Webhooks/CollectionResponse.json'),
    ],
  }
}

export function webhookJson(webhook: SimWebhook): Record<string, unknown> {
  const self = `${API}/lists/${webhook.list_id}/webhooks/${webhook.id}`
  return {
    id: webhook.id,
    url: webhook.url,
    events: { ...webhook.events },
    sources: { ...webhook.sources },
    list_id: webhook.list_id,
    _links: [
      link('self', self, 'GET', 'Lists/Webhooks/Instance.json'),
      link('parent', `${API}/lists/${webhook.list_id}/webhooks`, 'GET', 'Lists/Webhooks/CollectionResponse.json'),
      link('update', self, 'PATCH', 'Lists/Webhooks/Instance.json'),
      link('delete', self, 'DELETE'),
    ],
  }
}

export function rootJson(account: SimAccount): Record<string, unknown> {
  let total = 0
  for (const list of account.lists) for (const member of list.members) if (member.status === 'subscribed') total++
  return {
    account_id: account.id,
    login_id: account.loginId,
    account_name: account.name,
    email: account.email,
    first_name: 'Venue',
    last_name: 'Owner',
    username: account.username,
    avatar_url: '',
    role: 'owner',
    member_since: mailchimpTimestamp(account.createdMs),
    pricing_plan_type: 'monthly',
    first_payment: mailchimpTimestamp(account.createdMs),
    account_timezone: 'Europe/London',
    account_industry: 'Arts and Artists',
    contact: { company: account.name, addr1: '1 Theatre Row', addr2: '', city: 'London', state: '', zip: 'WC2N 5DU', country: 'GB' },
    pro_enabled: false,
    last_login: mailchimpTimestamp(account.createdMs),
    total_subscribers: total,
    industry_stats: { open_rate: 0.28, bounce_rate: 0.006, click_rate: 0.031 },
    _links: [link('self', `${API}/`, 'GET', 'Root.json')],
  }
}
