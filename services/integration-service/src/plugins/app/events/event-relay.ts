// The relay from the event outbox to Redis Streams, one stream per family (`<prefix>events:sync`),
// trimmed to about `maxLen` entries. Each row gets its stream position in a committed transaction
// before it is published, and is published under that id (`<position>-0`): a publish repeated after
// a crash between XADD and the mark is refused by Redis (the id is not above the stream's last) and
// simply marked. Only one relay publishes at a time (an advisory lock): positions then reach each
// stream in increasing order. Redis lost (its epoch key gone): the streams are dropped and every
// row still kept in Postgres goes out again, under its old position.
import type { Redis } from 'ioredis'
import type { Knex } from 'knex'
import { HUB_EVENT_FAMILIES, hubEventFamily } from '@hub/contracts'
import { hubEventStreamKey as eventStreamKey } from '@hub/event-bus'
import type { Database } from '@hub/service-kit'
import type { EventOutboxRepository, RelayRow } from './event-outbox-repository.ts'

const epochKey = (prefix: string): string => `${prefix}events:epoch`
// Any constant works: it only has to be the same for every replica.
const RELAY_LOCK = 0x68756265 // "hube"

export interface EventRelayOptions {
  db: Pick<Database, 'withSystemScope'>
  redis: Pick<Redis, 'pipeline' | 'exists' | 'set' | 'del' | 'xlen'>
  prefix: string
  outbox: EventOutboxRepository
  batchSize?: number
  /** Approximate entries kept per stream (XADD MAXLEN ~). */
  maxLen: number
  /** How long relayed rows stay in Postgres (what a lost Redis is refilled from). */
  retentionMs: number
  /** What the relay published, after XADD and before the rows are marked (metrics). */
  onPublished?: (rows: RelayRow[]) => void
}

export interface EventRelayBatch {
  published: number
  /** Rows Redis already had (a publish repeated after a crash). */
  duplicates: number
  /** Redis had lost the streams and every kept row was reopened. */
  refilled: number
}

const isAlreadyThere = (error: Error): boolean => /equal or smaller than the target stream top item/i.test(error.message)

export function createEventRelay(opts: EventRelayOptions) {
  const batchSize = Math.min(opts.batchSize ?? 200, 1000)
  const { db, redis, outbox, prefix } = opts

  async function publish(rows: RelayRow[]): Promise<{ done: string[]; duplicates: number }> {
    const pipeline = redis.pipeline()
    for (const row of rows) {
      pipeline.xadd(eventStreamKey(prefix, hubEventFamily(row.event.type)), 'MAXLEN', '~', String(opts.maxLen), `${row.position}-0`, 'event', JSON.stringify(row.event))
    }
    const results = (await pipeline.exec()) ?? []
    const done: string[] = []
    let duplicates = 0
    // In order: a row is marked only when every row before it on the pipeline reached Redis, so a
    // failure part-way leaves the rest (in order) for the next batch.
    for (const [index, row] of rows.entries()) {
      const error = results[index]?.[0]
      if (error && !isAlreadyThere(error)) {
        if (done.length === 0) throw error
        break
      }
      if (error) duplicates += 1
      done.push(row.id)
    }
    return { done, duplicates }
  }

  /** One batch: reads, publishes and marks up to `batchSize` rows; resolves how many went out. */
  async function relayBatch(): Promise<EventRelayBatch> {
    // The lock lives in a transaction of its own for the whole batch; the work runs in short
    // transactions beside it, because positions must be committed before the rows are published.
    return db.withSystemScope(async (lockTrx: Knex.Transaction) => {
      const locked = (await lockTrx.raw('select pg_try_advisory_xact_lock(?) as locked', [RELAY_LOCK])) as { rows: Array<{ locked: boolean }> }
      if (!locked.rows[0]?.locked) return { published: 0, duplicates: 0, refilled: 0 }
      let refilled = 0
      if ((await redis.exists(epochKey(prefix))) === 0) {
        // A Redis without our epoch lost what we published (or never had it): the streams start
        // over from Postgres, and consumers recreate their groups on the new streams.
        // Streams that are empty (made by consumers creating their groups) are kept with their groups.
        const keys = HUB_EVENT_FAMILIES.map((family) => eventStreamKey(prefix, family))
        const lengths = await Promise.all(keys.map((key) => redis.xlen(key)))
        const stale = keys.filter((_key, index) => (lengths[index] ?? 0) > 0)
        if (stale.length > 0) await redis.del(...stale)
        refilled = await db.withSystemScope((trx) => outbox.reopenRelayed(trx))
        await redis.set(epochKey(prefix), new Date().toISOString())
      }
      let rows = await db.withSystemScope((trx) => outbox.pending(trx, batchSize))
      if (rows.length < batchSize) {
        await db.withSystemScope((trx) => outbox.assignPositions(trx, batchSize - rows.length))
        rows = await db.withSystemScope((trx) => outbox.pending(trx, batchSize))
      }
      if (rows.length === 0) return { published: 0, duplicates: 0, refilled }
      const { done, duplicates } = await publish(rows)
      opts.onPublished?.(rows.filter((row) => done.includes(row.id)))
      await db.withSystemScope((trx) => outbox.markRelayed(trx, done))
      return { published: done.length, duplicates, refilled }
    })
  }

  return {
    relayBatch,
    batchSize,
    /** Removes relayed rows past retention, a bounded batch at a time. */
    async prune(): Promise<number> {
      let total = 0
      for (;;) {
        const removed = await db.withSystemScope((trx) => outbox.prune(trx, opts.retentionMs, 5_000))
        total += removed
        if (removed < 5_000) return total
      }
    },
  }
}

export type EventRelay = ReturnType<typeof createEventRelay>
