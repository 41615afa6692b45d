// Who is calling: HTTP Basic with any username and the API key (`<32 hex>-<dc>`) as password, or
// an OAuth access token as `Bearer` / `OAuth`. Every refusal is the same 401 Mailchimp sends, so a
// caller cannot tell a malformed key from a revoked one or a key of another data centre.
import { ACCESS_TOKEN_PATTERN, API_KEY_PATTERN } from './mailchimp-store.ts'
import type { MailchimpStore, SimAccount } from './mailchimp-store.ts'
import { PROBLEMS } from './mailchimp-errors.ts'
import type { MailchimpProblem } from './mailchimp-errors.ts'

export type AuthOutcome = { ok: true; account: SimAccount; credential: string } | { ok: false; problem: MailchimpProblem }

export interface AuthOptions {
  /** When set, API keys of any other data centre are refused. */
  dc: string | undefined
}

function credentialFrom(header: string): string | null {
  const space = header.indexOf(' ')
  if (space === -1) return null
  const scheme = header.slice(0, space).toLowerCase()
  const value = header.slice(space + 1).trim()
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    return colon === -1 ? null : decoded.slice(colon + 1)
  }
  if (scheme === 'bearer' || scheme === 'oauth') return value
  return null
}

/** Whether a credential has the shape Mailchimp issues (and the configured data centre). */
export function isWellFormed(credential: string, options: AuthOptions): boolean {
  const key = API_KEY_PATTERN.exec(credential)
  if (key) return options.dc === undefined || key[1] === options.dc
  return ACCESS_TOKEN_PATTERN.test(credential)
}

export function authenticate(store: MailchimpStore, header: string | undefined, options: AuthOptions): AuthOutcome {
  if (!header) return { ok: false, problem: PROBLEMS.apiKeyMissing() }
  const credential = credentialFrom(header)
  if (!credential) return { ok: false, problem: PROBLEMS.apiKeyInvalid() }
  if (!isWellFormed(credential, options) || store.revoked.has(credential)) return { ok: false, problem: PROBLEMS.apiKeyInvalid() }
  const token = store.tokens.get(credential)
  if (token?.expiresAtMs != null && token.expiresAtMs <= store.clock.now()) return { ok: false, problem: PROBLEMS.apiKeyInvalid() }
  return { ok: true, account: store.accountForCredential(credential), credential }
}
