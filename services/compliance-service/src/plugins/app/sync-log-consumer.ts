// Pulls integration-service's sync-log change feed into compliance-service's own table. The cursor
// is saved in the same transaction as the rows it covers, so a crash re-reads at most one page
// (and re-storing is idempotent). While integration-service is down it backs off, then catches up.
import { setTimeout as sleep } from 'node:timers/promises'
import { Gauge, Counter, type Registry } from 'prom-client'
import type { IntegrationClient } from '@hub/contracts'
import type { Database } from '@hub/service-kit'
import type { SyncLogStore } from './sync-log-store.ts'

export const CONSUMER_NAME = 'integration-sync-logs'
const PAGE_SIZE = 500
const MAX_BACKOFF_MS = 30_000

export interface ConsumerLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
}

export function createSyncLogConsumer(deps: { db: Pick<Database, 'withSystemScope'>; store: SyncLogStore; integration: Pick<IntegrationClient, 'syncLogFeed'>; registry: Registry; logger: ConsumerLogger; pollMs: number }) {
  const { db, store, integration, logger } = deps
  let lastCaughtUp = Date.now()
  new Gauge({
    name: 'compliance_sync_log_consumer_lag_seconds',
    help: 'Seconds since the consumer last reached the end of the sync-log feed',
    registers: [deps.registry],
    // Only a replica that runs the consumer has a lag: API-only replicas (SYNC_LOG_CONSUMER=false)
    // report 0 instead of the time since they started, which would page after ten minutes.
    collect() {
      this.set(running ? (Date.now() - lastCaughtUp) / 1000 : 0)
    },
  })
  const consumed = new Counter({ name: 'compliance_sync_log_consumer_rows_total', help: 'Sync-log rows stored from the feed', registers: [deps.registry] })
  const failures = new Counter({ name: 'compliance_sync_log_consumer_failures_total', help: 'Feed pulls that failed', registers: [deps.registry] })

  let running = false
  let stopController: AbortController | null = null
  let loop: Promise<void> | null = null
  let inFlight: Promise<number> | null = null

  async function readCursor(): Promise<string | undefined> {
    return db.withSystemScope(async (trx) => {
      const row = await trx('compliance.consumer_cursors').where({ consumer: CONSUMER_NAME }).first()
      return (row?.cursor as string | null) ?? undefined
    })
  }

  async function recordError(message: string): Promise<void> {
    await db
      .withSystemScope((trx) =>
        trx('compliance.consumer_cursors').insert({ consumer: CONSUMER_NAME, last_error: message, last_polled_at: trx.fn.now(), updated_at: trx.fn.now() }).onConflict('consumer').merge(['last_error', 'last_polled_at', 'updated_at']),
      )
      .catch(() => undefined)
  }

  /** Reads the feed until it is empty; returns the number of rows stored. */
  async function drain(signal?: AbortSignal): Promise<number> {
    let cursor = await readCursor()
    let total = 0
    for (;;) {
      const page = await integration.syncLogFeed({ limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) }, signal)
      await db.withSystemScope(async (trx) => {
        await store.upsertMany(trx, page.logs)
        await trx('compliance.consumer_cursors')
          .insert({ consumer: CONSUMER_NAME, cursor: page.nextCursor, last_polled_at: trx.fn.now(), last_success_at: trx.fn.now(), last_error: null, updated_at: trx.fn.now() })
          .onConflict('consumer')
          .merge(['cursor', 'last_polled_at', 'last_success_at', 'last_error', 'updated_at'])
      })
      total += page.logs.length
      consumed.inc(page.logs.length)
      cursor = page.nextCursor
      if (page.logs.length < PAGE_SIZE) {
        lastCaughtUp = Date.now()
        return total
      }
    }
  }

  let inFlightStartedAt = 0
  /** One pull, shared with a loop iteration already running (the admin trigger uses this). */
  function pullOnce(signal?: AbortSignal): Promise<number> {
    if (!inFlight) inFlightStartedAt = Date.now()
    inFlight ??= drain(signal).finally(() => {
      inFlight = null
    })
    return inFlight
  }

  /** A pull that starts after the call (not one already under way); resolves when that pull began. */
  async function pullFresh(): Promise<number> {
    await inFlight?.catch(() => undefined)
    const pull = pullOnce()
    const startedAt = inFlightStartedAt
    await pull
    return startedAt
  }

  async function run(signal: AbortSignal): Promise<void> {
    let failuresInARow = 0
    while (!signal.aborted) {
      try {
        const stored = await pullOnce(signal)
        if (stored > 0) logger.info({ stored }, 'sync logs consumed')
        failuresInARow = 0
        await sleep(deps.pollMs, undefined, { signal }).catch(() => undefined)
      } catch (error) {
        if (signal.aborted) return
        failures.inc()
        failuresInARow += 1
        // Full jitter: replicas that failed together do not retry together.
        const ceiling = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(failuresInARow, 10))
        const wait = Math.round(Math.random() * ceiling)
        const message = (error as Error).message.slice(0, 500)
        logger.warn({ err: { message, code: (error as { code?: string }).code }, retryInMs: wait }, 'sync-log feed unavailable; backing off')
        await recordError(message)
        await sleep(wait, undefined, { signal }).catch(() => undefined)
      }
    }
  }

  return {
    start(): void {
      if (running) return
      running = true
      stopController = new AbortController()
      loop = run(stopController.signal)
    },
    async stop(): Promise<void> {
      if (!running) return
      running = false
      stopController?.abort()
      await loop
      await inFlight?.catch(() => undefined)
    },
    pullOnce,
    pullFresh,
    get running() {
      return running
    },
  }
}

export type SyncLogConsumer = ReturnType<typeof createSyncLogConsumer>
