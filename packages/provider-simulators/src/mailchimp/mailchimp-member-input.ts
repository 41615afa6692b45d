// Validation and application of member writes (PUT, PATCH, POST, batch), shared so every write
// path refuses and changes members the same way.
import type { MailchimpStore, MemberStatus, SimList, SimMember } from './mailchimp-store.ts'
import { findMember, subscriberHash } from './mailchimp-store.ts'
import { mailchimpTimestamp } from './mailchimp-time.ts'
import type { FieldError } from './mailchimp-errors.ts'

/** Statuses a client may set; `archived` only comes from DELETE. */
export const WRITABLE_STATUSES: readonly MemberStatus[] = ['subscribed', 'unsubscribed', 'cleaned', 'pending', 'transactional']
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

export interface MemberInput {
  email_address?: unknown
  status?: unknown
  status_if_new?: unknown
  merge_fields?: unknown
  email_type?: unknown
  language?: unknown
  vip?: unknown
}

export function isValidEmail(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 254 && EMAIL.test(value)
}

export function isWritableStatus(value: unknown): value is MemberStatus {
  return typeof value === 'string' && (WRITABLE_STATUSES as readonly string[]).includes(value)
}

/** Field errors of a member body; `statusField` names the status a new member takes. */
export function validateMemberInput(body: MemberInput, options: { requireEmail: boolean; statusField: 'status' | 'status_if_new' | null }): FieldError[] {
  const errors: FieldError[] = []
  if (options.requireEmail || body.email_address !== undefined) {
    if (body.email_address === undefined || body.email_address === '') errors.push({ field: 'email_address', message: 'This value should not be blank.' })
    else if (!isValidEmail(body.email_address)) errors.push({ field: 'email_address', message: 'Please provide a valid email address.' })
  }
  if (options.statusField && body[options.statusField] === undefined && body.status === undefined) {
    errors.push({ field: options.statusField, message: 'This value should not be blank.' })
  }
  for (const field of ['status', 'status_if_new'] as const) {
    if (body[field] !== undefined && !isWritableStatus(body[field])) {
      errors.push({ field, message: `The value you selected is not a valid choice. Choose one of: ${WRITABLE_STATUSES.join(', ')}.` })
    }
  }
  if (body.merge_fields !== undefined) {
    const merge = body.merge_fields
    if (merge === null || typeof merge !== 'object' || Array.isArray(merge)) errors.push({ field: 'merge_fields', message: 'This value should be of type object.' })
    else {
      for (const [key, value] of Object.entries(merge)) {
        if (typeof value !== 'string' && typeof value !== 'number') errors.push({ field: `merge_fields.${key}`, message: 'This value should be of type string.' })
      }
    }
  }
  if (body.email_type !== undefined && body.email_type !== 'html' && body.email_type !== 'text') {
    errors.push({ field: 'email_type', message: 'The value you selected is not a valid choice.' })
  }
  return errors
}

function setStatus(member: SimMember, status: MemberStatus, nowMs: number): boolean {
  if (member.status === status) return false
  member.status = status
  if (status === 'subscribed') member.timestamp_opt = mailchimpTimestamp(nowMs)
  return true
}

/** Applies validated fields; touches `last_changed` only when something changed. */
export function applyMemberInput(store: MailchimpStore, list: SimList, member: SimMember, body: MemberInput, statusField: 'status' | null): boolean {
  const now = store.clock.now()
  let changed = false
  if (typeof body.email_address === 'string' && body.email_address.toLowerCase() !== member.email_address.toLowerCase()) {
    store.changeEmail(list, member, body.email_address)
    changed = true
  }
  if (statusField && isWritableStatus(body.status)) changed = setStatus(member, body.status, now) || changed
  if (body.merge_fields && typeof body.merge_fields === 'object') {
    for (const [key, value] of Object.entries(body.merge_fields as Record<string, unknown>)) {
      const text = String(value)
      if (member.merge_fields[key] !== text) {
        member.merge_fields[key] = text
        changed = true
      }
    }
  }
  if ((body.email_type === 'html' || body.email_type === 'text') && body.email_type !== member.email_type) {
    member.email_type = body.email_type
    changed = true
  }
  if (typeof body.language === 'string' && body.language !== member.language) {
    member.language = body.language
    changed = true
  }
  if (typeof body.vip === 'boolean' && body.vip !== member.vip) {
    member.vip = body.vip
    changed = true
  }
  if (changed) store.touch(member)
  return changed
}

/** Creates a member from a validated body. */
export function createMemberFrom(store: MailchimpStore, list: SimList, email: string, status: MemberStatus, body: MemberInput): SimMember {
  const merge: Record<string, string> = {}
  if (body.merge_fields && typeof body.merge_fields === 'object') {
    for (const [key, value] of Object.entries(body.merge_fields as Record<string, unknown>)) merge[key] = String(value)
  }
  const member = store.newMember(list, email, status, merge, store.apiRng(), store.clock.now())
  if (body.email_type === 'text') member.email_type = 'text'
  if (typeof body.language === 'string') member.language = body.language
  if (typeof body.vip === 'boolean') member.vip = body.vip
  return member
}

/**
 * PUT semantics: create with `status_if_new` (or `status`), else update. An archived member comes
 * back to life with the new status, as Mailchimp re-adds archived contacts.
 */
export function upsertMember(store: MailchimpStore, list: SimList, email: string, body: MemberInput): { member: SimMember; created: boolean } {
  const existing = findMember(list, subscriberHash(email))
  if (!existing) {
    const status = (isWritableStatus(body.status_if_new) ? body.status_if_new : body.status) as MemberStatus
    return { member: createMemberFrom(store, list, email, status, body), created: true }
  }
  applyMemberInput(store, list, existing, body, 'status')
  if (existing.status === 'archived') {
    existing.status = isWritableStatus(body.status_if_new) ? body.status_if_new : 'subscribed'
    store.touch(existing)
  }
  return { member: existing, created: false }
}
