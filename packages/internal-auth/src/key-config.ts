// INTERNAL_AUTH_KEYS: which secret each service signs with, per key id, so keys rotate without downtime.

/** `{ "<service>": { "<key id>": "<secret>" } }`; the secret string's UTF-8 bytes are the HMAC key. */
export type InternalAuthKeys = Readonly<Record<string, Readonly<Record<string, string>>>>

export interface SigningKey {
  keyId: string
  secret: string
}

export class InternalAuthConfigError extends Error {
  readonly problems: readonly string[]

  constructor(problems: readonly string[]) {
    super(`INTERNAL_AUTH_KEYS is invalid:\n- ${problems.join('\n- ')}`)
    this.name = 'InternalAuthConfigError'
    this.problems = problems
  }
}

// Names go verbatim into headers and, for the service, into the canonical string, so they must
// not be able to carry a newline or anything a proxy might rewrite.
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** Short secrets make HMAC guessable offline; 16 characters still admits the documented test keys. */
export const MIN_SECRET_LENGTH = 16

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Parses and validates the JSON of `INTERNAL_AUTH_KEYS`. Reports every problem at once (never a
 * secret's value) so a misconfigured deployment can be fixed in one go.
 */
export function parseInternalAuthKeys(json: string | undefined): InternalAuthKeys {
  if (json === undefined || json.trim() === '') {
    throw new InternalAuthConfigError(['it is not set; expected {"<service>": {"<key id>": "<secret>"}}'])
  }
  let raw: unknown
  try {
    raw = JSON.parse(json)
  } catch (err) {
    throw new InternalAuthConfigError([`it is not valid JSON (${(err as Error).message})`])
  }
  return validateInternalAuthKeys(raw)
}

/** Same checks as `parseInternalAuthKeys` for a value that is already an object. */
export function validateInternalAuthKeys(raw: unknown): InternalAuthKeys {
  if (!isPlainObject(raw)) {
    throw new InternalAuthConfigError(['it must be a JSON object {"<service>": {"<key id>": "<secret>"}}'])
  }
  const problems: string[] = []
  // Null prototypes: a caller claiming to be "constructor" or "__proto__" must find nothing.
  const keys: Record<string, Record<string, string>> = Object.create(null)
  const services = Object.keys(raw)
  if (services.length === 0) problems.push('it has no services')
  for (const service of services) {
    if (!NAME_PATTERN.test(service)) {
      problems.push(`service name ${JSON.stringify(service)} must match ${NAME_PATTERN}`)
      continue
    }
    const serviceKeys = raw[service]
    if (!isPlainObject(serviceKeys)) {
      problems.push(`"${service}" must be an object {"<key id>": "<secret>"}`)
      continue
    }
    const keyIds = Object.keys(serviceKeys)
    if (keyIds.length === 0) problems.push(`"${service}" has no keys`)
    const valid: Record<string, string> = Object.create(null)
    for (const keyId of keyIds) {
      const secret = serviceKeys[keyId]
      if (!NAME_PATTERN.test(keyId)) {
        problems.push(`"${service}": key id ${JSON.stringify(keyId)} must match ${NAME_PATTERN}`)
      } else if (typeof secret !== 'string') {
        problems.push(`"${service}"."${keyId}": the secret must be a string`)
      } else if (secret.length < MIN_SECRET_LENGTH) {
        problems.push(`"${service}"."${keyId}": the secret must be at least ${MIN_SECRET_LENGTH} characters`)
      } else {
        valid[keyId] = secret
      }
    }
    keys[service] = valid
  }
  if (problems.length > 0) throw new InternalAuthConfigError(problems)
  return keys
}

/** The secret for (service, key id), or undefined; safe against inherited names like "constructor". */
export function lookupSecret(keys: InternalAuthKeys, service: string, keyId: string): string | undefined {
  if (!Object.hasOwn(keys, service)) return undefined
  const serviceKeys = keys[service]
  if (serviceKeys === undefined || !Object.hasOwn(serviceKeys, keyId)) return undefined
  return serviceKeys[keyId]
}

export function hasService(keys: InternalAuthKeys, service: string): boolean {
  return Object.hasOwn(keys, service)
}

/**
 * Natural order of key ids: runs of digits compare as numbers, everything else by code unit, so
 * k2 > k1, k10 > k9 and 2025-02 > 2025-01. Ties (e.g. k01 vs k1) fall back to plain string order
 * so the result never depends on object key order.
 */
export function compareKeyIds(a: string, b: string): number {
  const chunk = /(\d+|\D+)/g
  const as = a.match(chunk) ?? []
  const bs = b.match(chunk) ?? []
  for (let i = 0; i < Math.min(as.length, bs.length); i++) {
    const x = as[i] as string
    const y = bs[i] as string
    const xNum = /^\d/.test(x)
    const yNum = /^\d/.test(y)
    if (xNum && yNum) {
      const xs = x.replace(/^0+(?=\d)/, '')
      const ys = y.replace(/^0+(?=\d)/, '')
      if (xs.length !== ys.length) return xs.length - ys.length
      if (xs !== ys) return xs < ys ? -1 : 1
    } else if (x !== y) {
      return x < y ? -1 : 1
    }
  }
  if (as.length !== bs.length) return as.length - bs.length
  return a === b ? 0 : a < b ? -1 : 1
}

/**
 * The key a service signs with: its highest key id in `compareKeyIds` order. Receivers accept every
 * configured key id, so during a rotation the newest id must reach every receiver before callers
 * start using it.
 */
export function newestKey(keys: InternalAuthKeys, service: string): SigningKey {
  const serviceKeys = Object.hasOwn(keys, service) ? keys[service] : undefined
  const ids = serviceKeys === undefined ? [] : Object.keys(serviceKeys)
  if (serviceKeys === undefined || ids.length === 0) {
    throw new InternalAuthConfigError([`no key is configured for service "${service}"`])
  }
  const keyId = ids.reduce((best, id) => (compareKeyIds(id, best) > 0 ? id : best))
  return { keyId, secret: serviceKeys[keyId] as string }
}
