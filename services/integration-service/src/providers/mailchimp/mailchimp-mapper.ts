// Mailchimp list members → canonical contacts. A contact is one membership: the same email in two
// audiences is two contacts, so the external id is `<list_id>:<subscriber_hash>`.
import { createHash } from 'node:crypto'
import type { CanonicalRecord } from '../canonical.ts'
import type { MailchimpMember } from './mailchimp-sdk.ts'

export function subscriberHash(email: string): string {
  return createHash('md5').update(email.trim().toLowerCase()).digest('hex')
}

export function contactExternalId(listId: string, hash: string): string {
  return `${listId}:${hash}`
}

export function parseContactExternalId(externalId: string): { listId: string; hash: string } | null {
  const match = /^([^:\s]+):([0-9a-f]{32})$/.exec(externalId)
  return match ? { listId: match[1] as string, hash: match[2] as string } : null
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value : null
}

/** `2015-09-16T19:24:29+00:00` → `2015-09-16T19:24:29.000Z`. */
export function toIso(value: unknown): string | null {
  if (typeof value !== 'string' || value === '') return null
  const ms = Date.parse(value)
  return Number.isNaN(ms) ? null : new Date(ms).toISOString()
}

export function toContact(member: MailchimpMember, listId: string): CanonicalRecord<'contact'> {
  const merge = member.merge_fields ?? {}
  return {
    entity: 'contact',
    externalId: contactExternalId(listId, member.id),
    data: {
      email: member.email_address,
      givenName: text(merge.FNAME),
      familyName: text(merge.LNAME),
      status: member.status,
      listId,
    },
    raw: member,
    updatedAt: toIso(member.last_changed),
  }
}
