// Display form of a credential: enough to recognise which one is stored, never enough to use it.

/**
 * Prefixes that identify the kind of credential and are the same for everyone who has one,
 * so showing them reveals nothing. Longest first where one prefix starts another.
 */
export const KNOWN_SECRET_PREFIXES: readonly string[] = Object.freeze([
  // Stripe: secret, restricted and publishable keys, webhook signing secrets, Connect refresh tokens.
  'sk_test_',
  'sk_live_',
  'rk_test_',
  'rk_live_',
  'pk_test_',
  'pk_live_',
  'whsec_',
  'rt_',
  // Square access tokens (production and sandbox) start EAAA.
  'EAAA',
])

const MASK = '••••'
const ELLIPSIS = '…'
/** Values shorter than this are hidden completely: four visible characters would be too many. */
export const MIN_MASKED_LENGTH = 12
const TAIL = 4
// Mailchimp API keys: 32 hex characters, then the data centre, which is in every API URL anyway.
const MAILCHIMP_KEY = /^([0-9a-f]{32})-(us[0-9]{1,3})$/

/**
 * Rules, first match wins:
 * 1. not a string, or shorter than 12 characters → `••••`
 * 2. Mailchimp key `<32 hex>-usNN` → `…<last 4 hex>-usNN`
 * 3. known prefix (see KNOWN_SECRET_PREFIXES) with at least 12 characters after it →
 *    `<prefix>…<last 4>`; with fewer → `<prefix>••••`, since the last 4 would be a third of the secret
 * 4. anything else → `…<last 4>` (at least 8 characters stay hidden)
 * Lengths count code points, so an emoji is never cut in half.
 */
export function maskSecret(value: string): string {
  if (typeof value !== 'string') return MASK
  const chars = Array.from(value)
  if (chars.length < MIN_MASKED_LENGTH) return MASK

  const mailchimp = MAILCHIMP_KEY.exec(value)
  if (mailchimp?.[1] !== undefined && mailchimp[2] !== undefined) {
    return `${ELLIPSIS}${mailchimp[1].slice(-TAIL)}-${mailchimp[2]}`
  }

  const prefix = KNOWN_SECRET_PREFIXES.find((candidate) => value.startsWith(candidate))
  if (prefix !== undefined) {
    const rest = chars.slice(prefix.length)
    if (rest.length < MIN_MASKED_LENGTH) return `${prefix}${MASK}`
    return `${prefix}${ELLIPSIS}${rest.slice(-TAIL).join('')}`
  }

  return `${ELLIPSIS}${chars.slice(-TAIL).join('')}`
}
