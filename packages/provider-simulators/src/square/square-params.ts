// Parameter checks with Square's error codes (VALUE_TOO_LOW, INVALID_TIME, ...), shared by routes.
import { invalid } from './square-errors.ts'

export type Query = Record<string, string | string[] | undefined>

export function queryString(query: Query, name: string): string | undefined {
  const value = query[name]
  return Array.isArray(value) ? value[value.length - 1] : value
}

/**
 * Square's strict limit rule (customers, webhook subscriptions): outside [min, max] is an error,
 * not a clamp.
 */
export function strictLimit(raw: unknown, field: string, min: number, max: number, fallback: number): number {
  if (raw === undefined || raw === null || raw === '') return fallback
  const value = typeof raw === 'number' ? raw : Number(raw)
  if (!Number.isInteger(value)) throw invalid('EXPECTED_INTEGER', `Expected \`${field}\` to be an integer.`, field)
  if (value < min) throw invalid('VALUE_TOO_LOW', `The value of \`${field}\` must be greater than or equal to ${min}. Got ${value}.`, field)
  if (value > max) throw invalid('VALUE_TOO_HIGH', `The value of \`${field}\` must be less than or equal to ${max}. Got ${value}.`, field)
  return value
}

/** RFC 3339 timestamp → epoch ms, or INVALID_TIME. */
export function parseTime(raw: unknown, field: string): number | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined
  if (typeof raw !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(raw)) {
    throw invalid('INVALID_TIME', `Invalid RFC 3339 timestamp for \`${field}\`: ${String(raw)}.`, field)
  }
  const value = Date.parse(raw)
  if (Number.isNaN(value)) throw invalid('INVALID_TIME', `Invalid RFC 3339 timestamp for \`${field}\`: ${raw}.`, field)
  return value
}

export function sortOrder(raw: unknown, field: string, fallback: 'ASC' | 'DESC'): 'ASC' | 'DESC' {
  if (raw === undefined || raw === null || raw === '') return fallback
  if (raw === 'ASC' || raw === 'DESC') return raw
  throw invalid('INVALID_SORT_ORDER', `Invalid value for \`${field}\`: ${String(raw)}. Expected ASC or DESC.`, field)
}

export function enumValue<T extends string>(raw: unknown, field: string, allowed: readonly T[], fallback: T): T {
  if (raw === undefined || raw === null || raw === '') return fallback
  if (typeof raw === 'string' && (allowed as readonly string[]).includes(raw)) return raw as T
  throw invalid('INVALID_ENUM_VALUE', `Expected \`${field}\` to be one of ${allowed.join(', ')}. Got ${String(raw)}.`, field)
}

export function boolParam(raw: unknown): boolean {
  return raw === true || raw === 'true'
}

export function objectBody(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) return {}
  if (typeof body !== 'object' || Array.isArray(body)) throw invalid('EXPECTED_OBJECT', 'Expected the request body to be a JSON object.')
  return body as Record<string, unknown>
}

/** Square omits empty lists and absent cursors from responses: `{}` means "nothing". */
export function compact(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(body)) {
    if (value === undefined || (Array.isArray(value) && value.length === 0)) continue
    out[key] = value
  }
  return out
}
