// Listens to the hub's sync events (@hub/event-bus, group `compliance-sync-logs`) and pulls the
// sync-log feed when one arrives, so a finished run reaches compliance in well under a second
// instead of at the next poll. The event is a wake-up call, not the record: the feed (Postgres,
// cursor saved with the rows) stays the truth, and the poll stays as the backstop for events lost
// with Redis or trimmed from the stream. Handling is idempotent: a pull re-stores nothing new.
import { hostname } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import type { Registry } from 'prom-client'
import { startEventConsumer, type ConsumerLogger, type EventConsumer } from '@hub/event-bus'

export const SYNC_EVENTS_GROUP = 'compliance-sync-logs'
// A pull that began this long after an event occurred has surely seen its run: the feed holds a
// row back only while older transactions are still open, which is far shorter than this.
const SETTLE_MS = 1_000

export function createSyncEventListener(deps: { redis: Redis; prefix: string; registry: Registry; logger: ConsumerLogger; pullFresh(): Promise<number>; minIdleMs?: number }) {
  let consumer: EventConsumer | null = null
  let stopped = false
  const abort = new AbortController()
  let starting: Promise<void> | null = null
  // Start time of the latest pull that completed: events older than it (with the margin) are covered.
  let coveredFrom = 0

  async function connect(): Promise<void> {
    for (let attempt = 1; !stopped; attempt++) {
      try {
        consumer = await startEventConsumer({
          redis: deps.redis,
          keyPrefix: deps.prefix,
          families: ['sync'],
          group: SYNC_EVENTS_GROUP,
          consumer: `${hostname()}-${process.pid}`,
          registry: deps.registry,
          logger: deps.logger,
          ...(deps.minIdleMs !== undefined ? { minIdleMs: deps.minIdleMs } : {}),
          handle: async (event) => {
            if (coveredFrom > Date.parse(event.occurredAt) + SETTLE_MS) return
            coveredFrom = Math.max(coveredFrom, await deps.pullFresh())
          },
        })
        if (stopped) await consumer.stop()
        return
      } catch (error) {
        // A Redis that is down must not keep compliance down: the poll runs meanwhile.
        deps.logger.warn({ err: { message: (error as Error).message }, attempt }, 'sync events unavailable; the sync-log poll continues alone')
        await sleep(Math.min(30_000, 500 * 2 ** Math.min(attempt, 6)), undefined, { signal: abort.signal }).catch(() => undefined)
      }
    }
  }

  return {
    /** Starts listening in the background (retrying while Redis is unavailable). */
    start(): void {
      starting ??= connect()
    },
    async stop(): Promise<void> {
      stopped = true
      abort.abort()
      await starting
      await consumer?.stop()
    },
  }
}
