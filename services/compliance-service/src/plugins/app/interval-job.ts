// A job that runs every intervalMs once started (retention, audit digests): one pass at a time in
// this process, so an admin's "run now" during a timed pass joins it rather than racing it, and
// stop() waits for the pass in flight so shutdown never closes the database under it.
import { setTimeout as sleep } from 'node:timers/promises'

export interface IntervalJob<Result, Args extends unknown[]> {
  /** One pass now, or the pass already in flight. */
  runOnce: (...args: Args | []) => Promise<Result>
  start: () => void
  stop: () => Promise<void>
}

export function createIntervalJob<Result, Args extends unknown[] = []>(options: {
  intervalMs: number
  pass: (...args: Args | []) => Promise<Result>
  /** What a timed pass's result is worth logging. */
  onPass?: (result: Result) => void
  /** A timed pass that failed: the next one is at the next interval. */
  onError: (error: unknown) => void
}): IntervalJob<Result, Args> {
  let inFlight: Promise<Result> | null = null
  const runOnce = (...args: Args | []): Promise<Result> => {
    inFlight ??= options.pass(...args).finally(() => {
      inFlight = null
    })
    return inFlight
  }

  let controller: AbortController | null = null
  let loop: Promise<void> | null = null
  async function run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(options.intervalMs, undefined, { signal }).catch(() => undefined)
      if (signal.aborted) return
      try {
        options.onPass?.(await runOnce())
      } catch (error) {
        options.onError(error)
      }
    }
  }

  return {
    runOnce,
    start(): void {
      if (controller) return
      controller = new AbortController()
      loop = run(controller.signal)
    },
    async stop(): Promise<void> {
      controller?.abort()
      controller = null
      await loop
      await inFlight?.catch(() => undefined)
    },
  }
}
