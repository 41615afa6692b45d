// A record's content hash: the same content gives the same hash whatever the key order, so an
// unchanged record is recognised and not rewritten.
import { createHash } from 'node:crypto'

/** JSON with object keys sorted at every depth (undefined members dropped, as JSON does). */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (value instanceof Date) return JSON.stringify(value.toISOString())
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : stableStringify(item))).join(',')}]`
  const keys = Object.keys(value).sort()
  let out = '{'
  for (const key of keys) {
    const inner = (value as Record<string, unknown>)[key]
    if (inner === undefined) continue
    if (out.length > 1) out += ','
    out += `${JSON.stringify(key)}:${stableStringify(inner)}`
  }
  return `${out}}`
}

export function contentHash(...parts: unknown[]): string {
  const hash = createHash('sha256')
  for (const part of parts) hash.update(stableStringify(part)).update('\u0000')
  return hash.digest('base64url')
}
