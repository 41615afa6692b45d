// A consumer that outlives an unavailable Redis: a service whose start-up found Redis down keeps
// running, and its consumer starts once Redis answers. Used by every long-lived consumer of the hub
// (compliance-service's sync-event listener, integration-worker's tenant webhooks), so there is one
// reconnect loop, not one per service.
import { setTimeout as sleep } from 'node:timers/promises'
import { startEventConsumer, type EventConsumer, type EventConsumerOptions } from './consumer.ts'

export interface KeepConsumingOptions extends EventConsumerOptions {
  /** First wait after a failed start; doubled per attempt up to `retryMaxMs`. */
  retryBaseMs?: number
  retryMaxMs?: number
}

export interface KeptConsumer {
  /** True once the consumer is reading (its groups exist). */
  readonly running: boolean
  /** Stops retrying, or stops the consumer (it finishes the entry in hand). */
  stop(): Promise<void>
}

/**
 * Starts `startEventConsumer(opts)` in the background and retries with backoff while it fails to
 * start (Redis unreachable). Once started, the consumer rides out later outages itself (its read
 * loop retries). Returns at once.
 */
export function keepConsuming(opts: KeepConsumingOptions): KeptConsumer {
  const { retryBaseMs = 500, retryMaxMs = 30_000, ...consumerOptions } = opts
  const abort = new AbortController()
  let consumer: EventConsumer | null = null
  let stopped = false

  async function connect(): Promise<void> {
    for (let attempt = 1; !stopped; attempt++) {
      try {
        const started = await startEventConsumer(consumerOptions)
        if (stopped) await started.stop()
        else consumer = started
        return
      } catch (error) {
        opts.logger?.warn({ err: { message: (error as Error).message }, group: opts.group, attempt }, 'event streams unavailable; the consumer starts when Redis answers')
        await sleep(Math.min(retryMaxMs, retryBaseMs * 2 ** Math.min(attempt - 1, 16)), undefined, { signal: abort.signal }).catch(() => undefined)
      }
    }
  }

  const connecting = connect()
  return {
    get running() {
      return consumer !== null
    },
    async stop() {
      stopped = true
      abort.abort()
      await connecting
      await consumer?.stop()
    },
  }
}
