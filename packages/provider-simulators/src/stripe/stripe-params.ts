// Parameter coercion with Stripe's own validation messages. Values arrive as strings from the
// form-encoded wire and as JSON scalars from the control API; both are accepted.
import { invalidRequest, unknownParam } from './stripe-errors.ts'

export type Params = Record<string, unknown>

export function asParams(value: unknown): Params {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Params) : {}
}

export function checkKnown(params: Params, allowed: readonly string[]): void {
  for (const key of Object.keys(params)) {
    if (!allowed.includes(key)) throw unknownParam(key)
  }
}

export function optString(params: Params, name: string): string | undefined {
  const value = params[name]
  if (value === undefined) return undefined
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  throw invalidRequest(`Invalid string: ${JSON.stringify(value)}`, { param: name, code: 'parameter_invalid_string' })
}

/** A string param where an empty string means "unset" (Stripe's convention for nullable fields). */
export function optNullableString(params: Params, name: string): string | null | undefined {
  if (params[name] === null) return null
  const value = optString(params, name)
  return value === '' ? null : value
}

export function optInt(params: Params, name: string, param = name): number | undefined {
  const value = params[name]
  if (value === undefined) return undefined
  if (typeof value === 'number' && Number.isInteger(value)) return value
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return Number(value.trim())
  throw invalidRequest(`Invalid integer: ${typeof value === 'string' ? value : JSON.stringify(value)}`, { param, code: 'parameter_invalid_integer' })
}

export function optBool(params: Params, name: string): boolean | undefined {
  const value = params[name]
  if (value === undefined) return undefined
  if (value === true || value === 'true') return true
  if (value === false || value === 'false') return false
  throw invalidRequest(`Invalid boolean: ${String(value)}`, { param: name, code: 'parameter_invalid_boolean' })
}

export function optStringArray(params: Params, name: string): string[] | undefined {
  const value = params[name]
  if (value === undefined) return undefined
  if (typeof value === 'string') return value === '' ? [] : [value]
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value as string[]
  throw invalidRequest(`Invalid array`, { param: name, code: 'parameter_invalid_array' })
}

export interface CreatedRange {
  gt?: number
  gte?: number
  lt?: number
  lte?: number
}

/** `created=<int>` or `created[gt|gte|lt|lte]=<int>`. */
export function optRange(params: Params, name: string): CreatedRange | undefined {
  const value = params[name]
  if (value === undefined) return undefined
  if (typeof value === 'string' || typeof value === 'number') {
    const exact = optInt(params, name) as number
    return { gte: exact, lte: exact }
  }
  const inner = asParams(value)
  const range: CreatedRange = {}
  for (const key of Object.keys(inner)) {
    if (key !== 'gt' && key !== 'gte' && key !== 'lt' && key !== 'lte') throw unknownParam(`${name}[${key}]`)
    range[key] = optInt(inner, key, `${name}[${key}]`)
  }
  return range
}

export function inRange(value: number, range: CreatedRange | undefined): boolean {
  if (!range) return true
  if (range.gt !== undefined && !(value > range.gt)) return false
  if (range.gte !== undefined && !(value >= range.gte)) return false
  if (range.lt !== undefined && !(value < range.lt)) return false
  if (range.lte !== undefined && !(value <= range.lte)) return false
  return true
}

/**
 * Applies a `metadata` update: `metadata[k]=v` sets, `metadata[k]=` unsets one key, `metadata=`
 * clears them all. Enforces Stripe's limits (50 keys, 40-character keys, 500-character values).
 */
export function applyMetadata(current: Record<string, string>, update: unknown): Record<string, string> {
  if (update === undefined) return current
  if (update === '' || update === null) return {}
  if (typeof update !== 'object' || Array.isArray(update)) {
    throw invalidRequest('Invalid metadata: metadata must be a hash', { param: 'metadata' })
  }
  const next = { ...current }
  for (const [key, value] of Object.entries(update as Params)) {
    if (key.length > 40) throw invalidRequest(`Metadata keys can have a maximum length of 40 characters.`, { param: `metadata[${key}]` })
    if (value === '' || value === null) {
      delete next[key]
      continue
    }
    const text = typeof value === 'string' ? value : String(value)
    if (text.length > 500) throw invalidRequest(`Metadata values can have a maximum length of 500 characters.`, { param: `metadata[${key}]` })
    next[key] = text
  }
  if (Object.keys(next).length > 50) throw invalidRequest('You can specify up to 50 keys, with key names up to 40 characters long and values up to 500 characters long.', { param: 'metadata' })
  return next
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

export function optEmail(params: Params, name: string): string | null | undefined {
  const value = optNullableString(params, name)
  if (value && !EMAIL.test(value)) throw invalidRequest(`Invalid email address: ${value}`, { param: name, code: 'email_invalid' })
  return value
}

export function optCurrency(params: Params, name: string): string | undefined {
  const value = optString(params, name)
  if (value === undefined) return undefined
  const lower = value.toLowerCase()
  if (!/^[a-z]{3}$/.test(lower)) throw invalidRequest(`Invalid currency: ${value}. Stripe currently supports these currencies: usd, eur, gbp, cad, aud, ...`, { param: name })
  return lower
}
