// Sync cursors: opaque base64url JSON. A full walk remembers the last object it returned and the
// watermark taken when it started; an incremental cursor is just the watermark, i.e. the last
// event applied (`anchor`) or, before any event exists, the time from which to look (`since`).
import type { EntityName } from '../canonical.ts'
import { ProviderInvalidError } from '../provider-errors.ts'

export interface Position {
  id: string
  created: number
}

export interface Watermark {
  anchor: Position | null
  since: number
}

export type StripeCursor = { v: 1; entity: EntityName; phase: 'full'; after: Position | null; wm: Watermark } | { v: 1; entity: EntityName; phase: 'incremental'; wm: Watermark }

export function encodeCursor(cursor: StripeCursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url')
}

function isPosition(value: unknown): value is Position {
  const position = value as Position
  return !!position && typeof position === 'object' && typeof position.id === 'string' && Number.isInteger(position.created)
}

export function decodeCursor(text: string, entity: EntityName): StripeCursor {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'))
  } catch {
    throw new ProviderInvalidError('stripe', 'Unreadable Stripe sync cursor', { providerCode: 'cursor_invalid' })
  }
  const cursor = parsed as StripeCursor
  const wm = cursor?.wm as Watermark | undefined
  const valid =
    !!cursor &&
    cursor.v === 1 &&
    (cursor.phase === 'full' || cursor.phase === 'incremental') &&
    !!wm &&
    Number.isInteger(wm.since) &&
    (wm.anchor === null || isPosition(wm.anchor)) &&
    (cursor.phase === 'incremental' || cursor.after === null || isPosition(cursor.after))
  if (!valid) throw new ProviderInvalidError('stripe', 'Malformed Stripe sync cursor', { providerCode: 'cursor_invalid' })
  if (cursor.entity !== entity) throw new ProviderInvalidError('stripe', `Stripe cursor is for ${cursor.entity}, not ${entity}`, { providerCode: 'cursor_invalid' })
  return cursor
}
