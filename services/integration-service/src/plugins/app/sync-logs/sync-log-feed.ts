// Reading sync logs for other services: the cross-tenant change feed and one venue's runs.
import { Type } from '@sinclair/typebox'
import type { SyncLogFeed, VenueSyncLogPage } from '@hub/contracts'
import { CursorField, encodeCursor, readCursor, type Database } from '@hub/service-kit'
import type { FeedPosition, SyncLogRepository } from './sync-log-repository.ts'

const PositionSchema = Type.Object({ x: CursorField.int64(), i: CursorField.uuid() })
const START: FeedPosition = { xid: '0', id: '00000000-0000-0000-0000-000000000000' }

const encode = (position: FeedPosition): string => encodeCursor({ x: position.xid, i: position.id })

function decode(cursor: string | undefined): FeedPosition | undefined {
  if (cursor === undefined) return undefined
  const value = readCursor(cursor, PositionSchema)
  return { xid: value.x, id: value.i }
}

export function createSyncLogFeed(deps: { db: Pick<Database, 'withSystemScope'>; syncLogs: SyncLogRepository }) {
  const { db, syncLogs } = deps
  return {
    async feed(cursor: string | undefined, limit: number): Promise<SyncLogFeed> {
      const after = decode(cursor)
      const rows = await db.withSystemScope((trx) => syncLogs.feed(trx, after, limit))
      const last = rows.at(-1)
      return { logs: rows.map(({ position: _p, ...log }) => log), nextCursor: encode(last ? last.position : (after ?? START)) }
    },

    async venue(venueId: string, query: { since?: string | undefined; cursor?: string | undefined; limit: number }): Promise<VenueSyncLogPage> {
      const after = decode(query.cursor)
      const rows = await db.withSystemScope((trx) => syncLogs.venuePage(trx, venueId, { ...(query.since ? { since: query.since } : {}), ...(after ? { after } : {}), limit: query.limit }))
      const last = rows.at(-1)
      return { venueId, logs: rows.map(({ position: _p, ...log }) => log), nextCursor: rows.length === query.limit && last ? encode(last.position) : null }
    },
  }
}

export type SyncLogFeedService = ReturnType<typeof createSyncLogFeed>
