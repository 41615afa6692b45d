// The opaque cursor of contact listing: base64url JSON with a version. A `walk` cursor is a
// checkpoint inside a run (which list, how far, and the ids that anchor the position); a `done`
// cursor carries the watermark the next incremental run asks `since_last_changed` from.
import { ProviderInvalidError } from '../provider-errors.ts'

export interface WalkCursor {
  v: 1
  phase: 'walk'
  mode: 'full' | 'incremental'
  lists: string[]
  listIndex: number
  /** Position after the last member read in the current list. */
  offset: number
  /** Ids of the last members read, in order: where to pick up if earlier members vanished. */
  tail: string[]
  /** Incremental window [since, before), Mailchimp timestamps; null for full runs. */
  since: string | null
  before: string | null
  /** The next incremental cursor's watermark, fixed when the run started. */
  watermark: string
}

export interface DoneCursor {
  v: 1
  phase: 'done'
  watermark: string
}

export type ContactCursor = WalkCursor | DoneCursor

export function encodeCursor(cursor: ContactCursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url')
}

export function decodeCursor(value: string | null): ContactCursor | null {
  if (value === null || value === '') return null
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'))
  } catch {
    throw new ProviderInvalidError('mailchimp', 'Unreadable Mailchimp cursor', { providerCode: 'bad_cursor' })
  }
  const cursor = parsed as { [K in keyof WalkCursor]?: unknown } | null
  const valid =
    cursor !== null &&
    typeof cursor === 'object' &&
    cursor.v === 1 &&
    typeof cursor.watermark === 'string' &&
    (cursor.phase === 'done' ||
      (cursor.phase === 'walk' && (cursor.mode === 'full' || cursor.mode === 'incremental') && Array.isArray(cursor.lists) && Number.isInteger(cursor.listIndex) && Number.isInteger(cursor.offset) && Array.isArray(cursor.tail)))
  if (!valid) throw new ProviderInvalidError('mailchimp', 'Not a Mailchimp cursor (or an unknown version)', { providerCode: 'bad_cursor' })
  return cursor as unknown as ContactCursor
}
