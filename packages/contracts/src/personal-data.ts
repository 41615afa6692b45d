// Masked forms of personal data, for what must never hold it raw (audit entries, logs, request
// views): an email keeps its first letter and its domain's last label, enough to tell two apart
// in a review and useless to contact or look up anyone.
const EMAIL = /[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+/g

/** `jane.doe@example.com` → `j***@***.com`. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@')
  const local = at > 0 ? email.slice(0, at) : email
  const domain = at > 0 ? email.slice(at + 1) : ''
  const tld = domain.includes('.') ? domain.slice(domain.lastIndexOf('.')) : ''
  return `${local.slice(0, 1)}***@***${tld}`
}

/** A provider id with only its prefix and last two characters: `cus_NffrFeUfNV2Hib` → `cus_…ib`. */
export function maskIdentifier(id: string): string {
  const prefix = /^[A-Za-z]{1,6}_/.exec(id)?.[0] ?? ''
  return id.length <= prefix.length + 4 ? `${prefix}…` : `${prefix}…${id.slice(-2)}`
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
