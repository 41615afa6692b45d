// Binds an OAuth flow to the browser that started it (login CSRF). The OAuth `state` says which
// user asked; it does not say which browser comes back. Without this, a victim completing an
// attacker's consent link would connect the victim's provider account to the attacker's venue.
// At authorize the hub sets a short-lived cookie holding a random value (only its hash is
// stored with the state); the callback requires the same browser to present it.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

const COOKIE_PREFIX = 'hub_oauth_'
export const BINDING_COOKIE_PATH = '/api/v1/integrations/oauth/'

const sha256 = (value: string) => createHash('sha256').update(value).digest()

/** One cookie per flow (named after the state), so two flows started side by side both finish. */
export function bindingCookieName(state: string): string {
  return `${COOKIE_PREFIX}${sha256(state).toString('hex').slice(0, 16)}`
}

export function newBrowserBinding(): { value: string; hash: string } {
  const value = randomBytes(32).toString('base64url')
  return { value, hash: sha256(value).toString('hex') }
}

/**
 * HttpOnly (no script reads it), SameSite=Lax (sent on the provider's top-level redirect back,
 * not on cross-site subrequests), Secure unless the hub is served over plain http (development),
 * scoped to the OAuth routes and gone after `maxAgeSeconds`.
 */
export function bindingCookie(name: string, value: string, options: { secure: boolean; maxAgeSeconds: number }): string {
  return [`${name}=${value}`, `Path=${BINDING_COOKIE_PATH}`, `Max-Age=${options.maxAgeSeconds}`, 'HttpOnly', 'SameSite=Lax', ...(options.secure ? ['Secure'] : [])].join('; ')
}

export function clearedBindingCookie(name: string, options: { secure: boolean }): string {
  return bindingCookie(name, '', { ...options, maxAgeSeconds: 0 })
}

/** The named cookie's value from a Cookie header, or null. */
export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq === -1) continue
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return null
}

/** Constant-time: the presented value hashes to the stored hash. */
export function bindingMatches(presented: string | null, storedHash: string | null): boolean {
  if (!presented || !storedHash || !/^[0-9a-f]{64}$/.test(storedHash)) return false
  return timingSafeEqual(sha256(presented), Buffer.from(storedHash, 'hex'))
}
