// Field mappings: per tenant, provider and entity, a dot path into the provider's raw record is
// copied (through a small transform) into `data.custom.<target>` of every synced record. The
// mapping set has a version (a hash of its rows); when it differs from the one the last run
// used, the next run is a full re-sync so every record picks the change up.
import { createHash } from 'node:crypto'
import { isUnsafeKey, nullObject } from '@hub/contracts'

export const FIELD_TRANSFORMS = ['none', 'lowercase', 'uppercase', 'trim', 'string', 'number', 'boolean', 'date'] as const
export type FieldTransform = (typeof FIELD_TRANSFORMS)[number]

export interface FieldMapping {
  sourcePath: string
  targetField: string
  transform: FieldTransform
}

/** 0 for no mappings; otherwise a positive 31-bit hash of the set (order-independent). */
export function mappingVersion(mappings: FieldMapping[]): number {
  if (mappings.length === 0) return 0
  const canonical = mappings
    .map((mapping) => `${mapping.targetField}\u0000${mapping.sourcePath}\u0000${mapping.transform}`)
    .sort()
    .join('\u0001')
  const version = createHash('sha256').update(canonical).digest().readUInt32BE(0) & 0x7fffffff
  return version === 0 ? 1 : version
}

/** Reads `a.b.0.c` from a value; missing steps give undefined. */
export function readPath(value: unknown, path: string): unknown {
  let current = value
  for (const step of path.split('.')) {
    if (isUnsafeKey(step)) return undefined
    if (current === null || current === undefined) return undefined
    if (Array.isArray(current)) {
      const index = Number(step)
      current = Number.isInteger(index) ? current[index] : undefined
    } else if (typeof current === 'object') {
      current = Object.hasOwn(current, step) ? (current as Record<string, unknown>)[step] : undefined
    } else {
      return undefined
    }
  }
  return current
}

/**
 * Applies one transform. Values that do not convert become null rather than failing the record:
 * a mapping is a convenience, and one odd value must not stop a sync.
 */
export function applyTransform(value: unknown, transform: FieldTransform): unknown {
  if (value === undefined || value === null) return null
  const text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value)
  switch (transform) {
    case 'none':
      return value
    case 'lowercase':
      return text.toLowerCase()
    case 'uppercase':
      return text.toUpperCase()
    case 'trim':
      return text.trim()
    case 'string':
      return text
    case 'number': {
      if (typeof value === 'number') return Number.isFinite(value) ? value : null
      if (typeof value === 'boolean') return value ? 1 : 0
      const parsed = text.trim() === '' ? Number.NaN : Number(text)
      return Number.isFinite(parsed) ? parsed : null
    }
    case 'boolean': {
      if (typeof value === 'boolean') return value
      if (typeof value === 'number') return value !== 0
      const lowered = text.trim().toLowerCase()
      if (['true', 'yes', 'y', '1', 'on'].includes(lowered)) return true
      if (['false', 'no', 'n', '0', 'off', ''].includes(lowered)) return false
      return null
    }
    case 'date': {
      // Unix seconds (Stripe) or milliseconds, or any string Date understands; out as ISO 8601.
      const millis = typeof value === 'number' ? (value < 1e11 ? value * 1000 : value) : Date.parse(text)
      // Not just isFinite: a finite number past Date's range (±8.64e15 ms) makes an Invalid Date,
      // whose toISOString throws and would fail the whole record.
      const date = new Date(millis)
      return Number.isNaN(date.getTime()) ? null : date.toISOString()
    }
  }
}

/** The `custom` object a record carries for the mappings (undefined when there are none). */
export function mapCustomFields(raw: unknown, mappings: FieldMapping[]): Record<string, unknown> | undefined {
  if (mappings.length === 0) return undefined
  // The route refuses unsafe names; rows stored before that rule are skipped here all the same.
  const custom = nullObject()
  for (const mapping of mappings) {
    if (!isUnsafeKey(mapping.targetField)) custom[mapping.targetField] = applyTransform(readPath(raw, mapping.sourcePath), mapping.transform)
  }
  return custom
}
