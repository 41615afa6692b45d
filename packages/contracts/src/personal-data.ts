// Masked forms of personal data, for what must never hold it raw (audit entries, logs, request
// views): an email keeps its first letter and its domain's last label, enough to tell two apart
// in a review and useless to contact or look up anyone.
const EMAIL = /[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+/g

// Kept characters are counted in code points, never UTF-16 units: half of a surrogate pair (an
// emoji, say) is not valid Unicode, and Postgres refuses it in jsonb, so the masked value of an
// identifier starting or ending with one could not be stored.

/** `jane.doe@example.com` → `j***@***.com`. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@')
  const local = at > 0 ? email.slice(0, at) : email
  const domain = at > 0 ? email.slice(at + 1) : ''
  // Cut at an ASCII '.', so never inside a pair.
  const tld = domain.includes('.') ? domain.slice(domain.lastIndexOf('.')) : ''
  return `${Array.from(local).slice(0, 1).join('')}***@***${tld}`
}

/** A provider id with only its prefix and last two characters: `cus_NffrFeUfNV2Hib` → `cus_…ib`. */
export function maskIdentifier(id: string): string {
  const prefix = /^[A-Za-z]{1,6}_/.exec(id)?.[0] ?? ''
  const chars = Array.from(id)
  return chars.length <= prefix.length + 4 ? `${prefix}…` : `${prefix}…${chars.slice(-2).join('')}`
}

/** Every email inside a string replaced by its masked form. */
export function maskEmailsInText(text: string): string {
  return text.replace(EMAIL, (email) => maskEmail(email))
}

/**
 * A copy of a JSON-like value with every email in its strings (and member names) masked. Audit
 * images go through this, so no writer can put a raw email into the append-only log.
 */
export function maskEmailsIn(value: unknown): unknown {
  if (typeof value === 'string') return maskEmailsInText(value)
  if (Array.isArray(value)) return value.map(maskEmailsIn)
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out = Object.create(null) as Record<string, unknown>
    for (const [key, inner] of Object.entries(value)) out[maskEmailsInText(key)] = maskEmailsIn(inner)
    return out
  }
  return value
}
