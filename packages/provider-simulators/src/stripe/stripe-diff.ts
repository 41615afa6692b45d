// `data.previous_attributes` of `*.updated` events: the old values of exactly the fields that
// changed, metadata key by key (a key that did not exist before shows as null).
import type { StripeObject } from './stripe-collection.ts'

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

export function previousAttributes(before: StripeObject, after: StripeObject): Record<string, unknown> | null {
  const previous: Record<string, unknown> = {}
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const old = before[key]
    const now = after[key]
    if (same(old, now)) continue
    if (key === 'metadata' && old && now && typeof old === 'object' && typeof now === 'object') {
      const oldMeta = old as Record<string, string>
      const newMeta = now as Record<string, string>
      const changed: Record<string, string | null> = {}
      for (const metaKey of new Set([...Object.keys(oldMeta), ...Object.keys(newMeta)])) {
        if (oldMeta[metaKey] !== newMeta[metaKey]) changed[metaKey] = oldMeta[metaKey] ?? null
      }
      previous.metadata = changed
      continue
    }
    previous[key] = old === undefined ? null : old
  }
  // `updated` moves with every product change; Stripe still lists it as a previous attribute.
  const keys = Object.keys(previous)
  return keys.length === 0 || (keys.length === 1 && keys[0] === 'updated') ? null : previous
}
