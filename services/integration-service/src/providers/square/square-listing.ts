// Drives one listChanges run over an entity source and keeps the cursor honest.
//
// Square's search indexes are eventually consistent (a change can take up to a minute or more to
// be searchable), so an incremental window starts `lagMs` before the previous run's start. The
// records that overlap re-delivers unchanged are suppressed by fingerprint ([id, updated_at |
// version]), so the window overlaps without repeating. A changed record has a new fingerprint
// and is delivered again, as it should be. The run start comes from the hub's clock and Square
// stamps records with its own; the lag also absorbs skew between the two.
import type { CanonicalRecord, EntityName } from '../canonical.ts'
import type { ChangePage, ListOptions, ProviderContext } from '../provider-adapter.ts'
import type { SquareClient } from 'square'
import { decodeCursor, encodeCursor } from './square-cursor.ts'
import type { Fingerprint, SquareCheckpoint, SquareWatermark } from './square-cursor.ts'
import type { EntitySource } from './square-entities.ts'
import { callSquare } from './square-errors.ts'

export interface ListingSettings {
  lagMs: number
  maxFingerprints: number
}

const fingerprintKey = (fingerprint: Fingerprint): string => `${fingerprint[0]}\u0000${fingerprint[1]}`

/** Newest first (stamps start with updated_at), so a capped list drops the oldest. */
function capped(fingerprints: Iterable<Fingerprint>, max: number): Fingerprint[] {
  return [...fingerprints].sort((a, b) => (a[1] < b[1] ? 1 : a[1] > b[1] ? -1 : 0)).slice(0, max)
}

function startRun(entity: EntityName, mode: 'full' | 'incremental', watermark: SquareWatermark | null, lagMs: number): SquareCheckpoint {
  return {
    v: 1,
    kind: 'checkpoint',
    entity,
    mode,
    runStart: new Date().toISOString(),
    since: watermark ? new Date(Date.parse(watermark.since) - lagMs).toISOString() : null,
    page: null,
    skip: watermark?.recent ?? [],
    seen: [],
  }
}

/** Picks up where the cursor says: resume a checkpoint, start incremental from a watermark, or start over. */
function initialCheckpoint(entity: EntityName, options: ListOptions, lagMs: number): SquareCheckpoint {
  const state = decodeCursor(options.cursor, entity)
  if (options.mode === 'full') return state?.kind === 'checkpoint' && state.mode === 'full' ? state : startRun(entity, 'full', null, lagMs)
  if (!state) return startRun(entity, 'full', null, lagMs)
  if (state.kind === 'checkpoint') return state
  return startRun(entity, 'incremental', state, lagMs)
}

export async function* listSquareChanges<E extends EntityName>(ctx: ProviderContext, client: SquareClient, entity: E, source: EntitySource, options: ListOptions, settings: ListingSettings): AsyncGenerator<ChangePage<E>> {
  const checkpoint = initialCheckpoint(entity, options, settings.lagMs)
  const partitions = source.partitions
  if (partitions && checkpoint.locations === undefined) {
    checkpoint.locations = await callSquare(ctx.signal, () => partitions(client, ctx))
    checkpoint.locationIndex = 0
  }
  const skip = new Set(checkpoint.skip.map(fingerprintKey))
  const seen = new Map(checkpoint.seen.map((fingerprint) => [fingerprintKey(fingerprint), fingerprint]))
  // Safety net inside one process run; Square's cursors already never repeat a record.
  const delivered = new Set<string>()
  const horizon = Date.parse(checkpoint.runStart) - settings.lagMs

  for (;;) {
    const partition = checkpoint.locations?.[checkpoint.locationIndex ?? 0]
    const page =
      checkpoint.locations && partition === undefined
        ? { items: [], next: null }
        : await callSquare(ctx.signal, () =>
            source.page({
              client,
              ctx,
              mode: checkpoint.mode,
              cursor: checkpoint.page,
              pageSize: options.pageSize,
              since: checkpoint.since,
              partition,
            }),
          )
    const records: Array<CanonicalRecord<E>> = []
    const deletedIds: string[] = []
    for (const item of page.items) {
      const fingerprint: Fingerprint = [item.id, item.stamp]
      const key = fingerprintKey(fingerprint)
      const updated = item.updatedAt ? Date.parse(item.updatedAt) : Number.NaN
      // The next incremental window re-reads everything changed after `horizon`: remember it.
      if (updated >= horizon) seen.set(key, fingerprint)
      if (skip.has(key) || delivered.has(item.id)) continue
      delivered.add(item.id)
      if (item.deleted) deletedIds.push(item.id)
      else if (item.record) records.push(item.record as CanonicalRecord<E>)
    }

    let hasMore = true
    if (page.next) {
      checkpoint.page = page.next
    } else if (checkpoint.locations && (checkpoint.locationIndex ?? 0) + 1 < checkpoint.locations.length) {
      checkpoint.locationIndex = (checkpoint.locationIndex ?? 0) + 1
      checkpoint.page = null
    } else {
      hasMore = false
    }
    const recent = capped(seen.values(), settings.maxFingerprints)
    const cursor = hasMore ? encodeCursor({ ...checkpoint, seen: recent }) : encodeCursor({ v: 1, kind: 'watermark', entity, since: checkpoint.runStart, recent })
    yield { records, deletedIds, cursor, hasMore }
    if (!hasMore) return
  }
}
