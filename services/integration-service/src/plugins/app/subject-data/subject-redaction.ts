// What "redacted" means for a person's provider data: personal members (names, emails, phones,
// addresses, free-text notes about them) become null at any depth, and any other string that
// mentions one of their emails, as a whole address, becomes "[redacted]". Ids, amounts,
// currencies, statuses and dates stay: payments and invoices are the books, and the books keep
// their figures.
import { mentionsEmail, replaceEmailMentions } from '@hub/service-kit'

export const REDACTED = '[redacted]'

/** Member names (lower case, without `_`/`-`) whose value is personal wherever they appear. */
const PERSONAL_KEY = /(email|phone|mobile|fax|name$|^name|fname|lname|address|addr$|^shipping$|^billing|birth|^note$|^notes$|^description$|mergefields|^ip(address)?$|^location$|^line[0-9]$|^city$|^postalcode$|^zip$)/

/** Keys that look personal but name what a record is, not who (kept). */
const KEPT_KEY = /^(id|object|type|status|currency|listid|list_id|entity|provider|customerexternalid|customer)$/

const EMAIL = /[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+/g

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase()
}

function personalKey(key: string): boolean {
  const flat = key.toLowerCase().replace(/[_-]/g, '')
  return !KEPT_KEY.test(flat) && PERSONAL_KEY.test(flat)
}

/** Every email-looking string inside a value (lower case, deduplicated). */
export function emailsIn(value: unknown): string[] {
  const found = new Set<string>()
  const walk = (inner: unknown): void => {
    if (typeof inner === 'string') {
      for (const match of inner.matchAll(EMAIL)) found.add(normalizeEmail(match[0]))
    } else if (Array.isArray(inner)) inner.forEach(walk)
    else if (inner && typeof inner === 'object')
      for (const [key, member] of Object.entries(inner)) {
        walk(key)
        walk(member)
      }
  }
  walk(value)
  return [...found]
}

/**
 * A copy of `value` with its personal members nulled and every string that mentions one of
 * `emails` replaced.
 */
export function redactValue(value: unknown, emails: readonly string[]): unknown {
  const walk = (inner: unknown): unknown => {
    if (typeof inner === 'string') return mentionsEmail(inner, emails) ? REDACTED : inner
    if (Array.isArray(inner)) return inner.map(walk)
    if (inner && typeof inner === 'object') {
      // No prototype: a provider's `__proto__` member stays a member.
      const out = Object.create(null) as Record<string, unknown>
      for (const [key, member] of Object.entries(inner)) {
        const safeKey = mentionsEmail(key, emails) ? REDACTED : key
        out[safeKey] = personalKey(key) && member !== null ? null : walk(member)
      }
      return out
    }
    return inner
  }
  return walk(value)
}

/** Free text (an error message): the emails replaced, the rest kept. */
export function redactText(text: string | null, emails: readonly string[]): string | null {
  return text === null ? null : replaceEmailMentions(text, emails, REDACTED)
}
