// A bounded read-ahead over a pull source: pages are fetched (and prepared) while earlier ones are
// still being written, up to `capacity` pages ahead, or fewer when a weight bound (records) is
// reached first; a full buffer stops the fetching until the writer takes a page (back-pressure),
// so memory stays bounded whatever the provider's speed or page size.
// It only ever hands pages over in order: what is checkpointed, and when, stays the writer's call.

export interface ReadAhead<T> {
  /** The next item, waiting for it if need be; `null` once the source is exhausted. Throws the source's error after the items fetched before it. */
  next(): Promise<T | null>
  /** Items already fetched, up to `max`, without waiting (possibly none). */
  ready(max: number): T[]
  /** Stops fetching; an in-flight fetch completes and is dropped. */
  stop(): void
  /** How many items are fetched and not yet taken. */
  readonly buffered: number
}

/** A second bound: the buffer is also full once the weights of its items add up to `max`. */
export interface ReadAheadWeight<T> {
  max: number
  of(item: T): number
}

/**
 * `pull` returns the next item or `null` at the end; it is never called concurrently (a provider
 * cursor is sequential), and never again after `null`, an error, or `stop()`. With `weight`, the
 * buffer holds at most `weight.max` plus one item's weight.
 */
export function createReadAhead<T>(pull: () => Promise<T | null>, capacity: number, weight?: ReadAheadWeight<T>): ReadAhead<T> {
  if (!(capacity >= 1)) throw new Error('read-ahead capacity must be at least 1')
  const buffer: T[] = []
  let buffered = 0
  let finished = false
  let failure: { error: unknown } | null = null
  let stopped = false
  let fetching = false
  let waiter: (() => void) | null = null

  const wake = (): void => {
    const resolve = waiter
    waiter = null
    resolve?.()
  }

  const fill = (): void => {
    if (fetching || stopped || finished || failure || buffer.length >= capacity || (weight && buffered >= weight.max)) return
    fetching = true
    pull().then(
      (item) => {
        fetching = false
        if (stopped) return
        if (item === null) finished = true
        else {
          buffer.push(item)
          if (weight) buffered += weight.of(item)
        }
        wake()
        fill()
      },
      (error: unknown) => {
        fetching = false
        if (stopped) return
        failure = { error }
        wake()
      },
    )
  }

  fill()
  return {
    async next(): Promise<T | null> {
      for (;;) {
        const item = buffer.shift()
        if (item !== undefined) {
          if (weight) buffered -= weight.of(item)
          fill()
          return item
        }
        if (failure) throw failure.error
        if (finished || stopped) return null
        await new Promise<void>((resolve) => {
          waiter = resolve
        })
      }
    },
    ready(max: number): T[] {
      const taken = buffer.splice(0, Math.max(0, max))
      if (weight) for (const item of taken) buffered -= weight.of(item)
      if (taken.length > 0) fill()
      return taken
    },
    stop(): void {
      stopped = true
      buffer.length = 0
      buffered = 0
      wake()
    },
    get buffered(): number {
      return buffer.length
    },
  }
}
