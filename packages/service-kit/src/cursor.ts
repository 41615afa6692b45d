// Opaque pagination cursors: base64url JSON that clients pass back untouched.
import type { TSchema, Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

/** Returns null for anything that is not a cursor of this shape, so callers answer 400. */
export function decodeCursor<T extends TSchema>(cursor: string, schema: T): Static<T> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    return Value.Check(schema, value) ? value : null
  } catch {
    return null
  }
}
