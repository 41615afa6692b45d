// Listens to the hub's sync events (@hub/event-bus, group `compliance-sync-logs`) and pulls the
// sync-log feed when one arrives, so a run reaches compliance within about a second instead of at
// the next poll. The event is a wake-up call, not the record: the feed (Postgres, cursor saved with
// the rows) stays the truth, and the poll stays as the backstop for events lost with Redis or
// trimmed from the stream. Idempotent: an event whose run is already stored in that state pulls
// nothing; one whose run the feed does not show yet (it holds rows back while older transactions
// are open) is left unacknowledged and comes back.
import { hostname } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import type { Registry } from 'prom-client'
import type { HubEvent, SyncLog } from '@hub/contracts'
import { keepConsuming, type ConsumerLogger, type KeptConsumer } from '@hub/event-bus'
import type { Database } from '@hub/service-kit'
import type { SyncLogStore } from './sync-log-store.ts'

export const SYNC_EVENTS_GROUP = 'compliance-sync-logs'
/** Pulls per delivery before the event is left for a later delivery. */
const PULLS_PER_DELIVERY = 6
const ENDED: ReadonlyArray<SyncLog['status']> = ['succeeded', 'partial', 'failed', 'cancelled']

export function createSyncEventListener(deps: {
  redis: Redis
  prefix: string
  registry: Registry
  logger: ConsumerLogger
  db: Pick<Database, 'withTenant'>
  store: Pick<SyncLogStore, 'statusOf'>
  pullFresh(): Promise<number>
  minIdleMs?: number
}) {
  let kept: KeptConsumer | null = null

  /** Pulls until the run is stored in the state the event announces; throws when the feed lags. */
  async function handle(event: HubEvent): Promise<void> {
    const runId = String(event.data.syncLogId)
    const ended = event.type !== 'integration.sync.started'
    for (let attempt = 1; ; attempt++) {
      const status = await deps.db.withTenant(event.tenantId, (trx) => deps.store.statusOf(trx, runId))
      if (status !== null && (!ended || ENDED.includes(status))) return
      if (attempt > PULLS_PER_DELIVERY) throw new Error(`run ${runId} is not in the sync-log feed yet`)
      if (attempt > 1) await sleep(Math.min(2_000, 100 * 2 ** attempt))
      await deps.pullFresh()
    }
  }

  return {
    /** Starts listening in the background (retrying while Redis is unavailable: the poll runs meanwhile). */
    start(): void {
      kept ??= keepConsuming({
        redis: deps.redis,
        keyPrefix: deps.prefix,
        families: ['sync'],
        group: SYNC_EVENTS_GROUP,
        consumer: `${hostname()}-${process.pid}`,
        registry: deps.registry,
        logger: deps.logger,
        ...(deps.minIdleMs !== undefined ? { minIdleMs: deps.minIdleMs } : {}),
        handle,
      })
    },
    async stop(): Promise<void> {
      await kept?.stop()
    },
  }
}
