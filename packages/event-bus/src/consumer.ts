// A consumer of the hub's event streams, one consumer group per purpose (`compliance-sync`,
// `tenant-webhooks`). Entries are handed to `handle` one at a time in stream order and acknowledged
// only after it resolves: a consumer that dies first leaves them pending, and they are delivered
// again, to itself on restart (its own pending entries are read first) or to another consumer of
// the group once they have been idle for `minIdleMs` (XAUTOCLAIM). Delivery is at least once:
// handlers must be idempotent (the event id is stable across deliveries).
import type { Redis } from 'ioredis'
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { hubEventProblem, type HubEvent, type HubEventFamily } from '@hub/contracts'

/** The stream of a family; the relay in integration-service writes the same keys. */
export const hubEventStreamKey = (prefix: string, family: HubEventFamily): string => `${prefix}events:${family}`
/** Where entries that cannot be handled end up, per group, for an operator to look at. */
export const deadLetterStreamKey = (prefix: string, group: string): string => `${prefix}events:dead:${group}`

export interface EventDelivery {
  stream: string
  /** The entry id on its stream. */
  entryId: string
  /** 1 on the first delivery; more when the entry came back after a failure or a crash. */
  deliveries: number
}

export interface ConsumerLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

export interface EventConsumerOptions {
  /** A connection to copy: the consumer opens its own (a blocking read holds a connection). */
  redis: Redis
  keyPrefix: string
  families: readonly HubEventFamily[]
  group: string
  /** Unique per process (e.g. hostname-pid): pending entries belong to a consumer by name. */
  consumer: string
  handle(event: HubEvent, delivery: EventDelivery): Promise<void>
  /** Entries read per call. */
  batchSize?: number
  /** How long a read waits for new entries. */
  blockMs?: number
  /** How long an entry stays pending with another consumer before this one takes it over. */
  minIdleMs?: number
  /** How often pending entries of other consumers are looked at. */
  claimEveryMs?: number
  /** After this many deliveries, an entry whose handler still fails goes to the dead-letter stream. */
  maxDeliveries?: number
  registry?: Registry
  logger?: ConsumerLogger
}

export interface EventConsumer {
  /** Stops reading, waits for the entry being handled, and closes the consumer's connection. */
  stop(): Promise<void>
  /** Entries handled and acknowledged since start. */
  readonly handled: number
}

type Entry = [id: string, fields: string[]]
type StreamReply = Array<[stream: string, entries: Entry[]]>

const silent: ConsumerLogger = { info: () => undefined, warn: () => undefined, error: () => undefined }

function metricsFor(registry: Registry | undefined) {
  const registers = registry ? [registry] : []
  const existing = <T>(name: string): T | undefined => registry?.getSingleMetric(name) as T | undefined
  return {
    handled:
      existing<Counter<'group' | 'family' | 'outcome'>>('event_consumer_entries_total') ??
      new Counter({ name: 'event_consumer_entries_total', help: 'Event stream entries by outcome (handled, failed, invalid, dead)', labelNames: ['group', 'family', 'outcome'], registers }),
    latency:
      existing<Histogram<'group'>>('event_consumer_latency_seconds') ??
      new Histogram({ name: 'event_consumer_latency_seconds', help: 'From an event occurring to its handler finishing', labelNames: ['group'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300], registers }),
    lag: existing<Gauge<'group' | 'family'>>('event_consumer_lag') ?? new Gauge({ name: 'event_consumer_lag', help: 'Entries of the stream the group has not read yet', labelNames: ['group', 'family'], registers }),
    pending: existing<Gauge<'group' | 'family'>>('event_consumer_pending') ?? new Gauge({ name: 'event_consumer_pending', help: 'Entries read by the group and not yet acknowledged', labelNames: ['group', 'family'], registers }),
  }
}

const fieldOf = (fields: string[], name: string): string | undefined => {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]
  return undefined
}

/** Starts consuming; resolves once the groups exist (created at the stream's start when missing). */
export async function startEventConsumer(opts: EventConsumerOptions): Promise<EventConsumer> {
  const batchSize = opts.batchSize ?? 50
  const blockMs = opts.blockMs ?? 2_000
  const minIdleMs = opts.minIdleMs ?? 30_000
  const claimEveryMs = opts.claimEveryMs ?? Math.max(1_000, Math.floor(minIdleMs / 2))
  const maxDeliveries = opts.maxDeliveries ?? 20
  const logger = opts.logger ?? silent
  const metrics = metricsFor(opts.registry)
  const familyOf = new Map(opts.families.map((family) => [hubEventStreamKey(opts.keyPrefix, family), family]))
  const streams = [...familyOf.keys()]
  // Its own connection: XREADGROUP BLOCK holds it, and stop() may cut it.
  const redis = opts.redis.duplicate({ connectionName: `event-consumer:${opts.group}:${opts.consumer}`, commandTimeout: blockMs + 5_000 })
  // Connection errors surface as failed commands, which the loop below logs and retries; without a
  // listener ioredis would print each reconnect failure while Redis is down.
  redis.on('error', () => undefined)
  let stopping = false
  let reading = false
  let handled = 0

  async function ensureGroups(): Promise<void> {
    for (const stream of streams) {
      try {
        // From the start of the stream: a new group (or one recreated after Redis lost its
        // streams, which the relay refills from Postgres) sees everything still kept.
        await redis.xgroup('CREATE', stream, opts.group, '0', 'MKSTREAM')
      } catch (error) {
        if (!/BUSYGROUP/.test((error as Error).message)) throw error
      }
    }
  }

  async function deadLetter(stream: string, entryId: string, fields: string[], reason: string): Promise<void> {
    await redis.xadd(deadLetterStreamKey(opts.keyPrefix, opts.group), 'MAXLEN', '~', '10000', '*', 'stream', stream, 'entry', entryId, 'reason', reason.slice(0, 500), 'event', fieldOf(fields, 'event') ?? '')
    await redis.xack(stream, opts.group, entryId)
  }

  async function handleEntry(stream: string, [entryId, fields]: Entry, deliveries: number): Promise<void> {
    const family = familyOf.get(stream) ?? 'unknown'
    let event: unknown
    try {
      event = JSON.parse(fieldOf(fields, 'event') ?? '')
    } catch {
      event = undefined
    }
    const problem = hubEventProblem(event)
    if (problem) {
      // Never becomes valid by waiting: set aside at once rather than retried.
      metrics.handled.inc({ group: opts.group, family, outcome: 'invalid' })
      logger.warn({ stream, entryId, problem }, 'event entry is not a valid hub event; dead-lettered')
      await deadLetter(stream, entryId, fields, problem)
      return
    }
    const valid = event as HubEvent
    try {
      await opts.handle(valid, { stream, entryId, deliveries })
    } catch (error) {
      const message = (error as Error).message
      if (deliveries >= maxDeliveries) {
        metrics.handled.inc({ group: opts.group, family, outcome: 'dead' })
        logger.error({ stream, entryId, eventId: valid.id, type: valid.type, deliveries, err: { message } }, 'event handler kept failing; dead-lettered')
        await deadLetter(stream, entryId, fields, message)
        return
      }
      // Left pending: taken again by XAUTOCLAIM once idle for minIdleMs.
      metrics.handled.inc({ group: opts.group, family, outcome: 'failed' })
      logger.warn({ stream, entryId, eventId: valid.id, type: valid.type, deliveries, err: { message } }, 'event handler failed; the entry stays pending and comes back')
      return
    }
    await redis.xack(stream, opts.group, entryId)
    handled += 1
    metrics.handled.inc({ group: opts.group, family, outcome: 'handled' })
    metrics.latency.observe({ group: opts.group }, Math.max(0, (Date.now() - Date.parse(valid.occurredAt)) / 1000))
  }

  async function handleReply(reply: StreamReply | null, deliveries: (stream: string, id: string) => number): Promise<number> {
    let count = 0
    for (const [stream, entries] of reply ?? []) {
      for (const entry of entries) {
        if (stopping) return count
        // A pending entry whose data was trimmed away comes back as [id, null]: nothing to handle.
        if (!entry[1]) {
          await redis.xack(stream, opts.group, entry[0])
          continue
        }
        await handleEntry(stream, entry, deliveries(stream, entry[0]))
        count += 1
      }
    }
    return count
  }

  /** Its own entries left pending by an earlier life of this consumer (same name), oldest first. */
  async function drainOwnPending(): Promise<void> {
    for (const stream of streams) {
      let after = '0'
      for (;;) {
        if (stopping) return
        const reply = (await redis.xreadgroup('GROUP', opts.group, opts.consumer, 'COUNT', batchSize, 'STREAMS', stream, after)) as StreamReply | null
        const entries = reply?.[0]?.[1] ?? []
        if (entries.length === 0) break
        await handleReply(reply, () => 2)
        after = entries[entries.length - 1]?.[0] ?? after
      }
    }
  }

  /** Entries other consumers read and never acknowledged (crashed, or their handler failed). */
  async function claimIdle(): Promise<void> {
    for (const stream of streams) {
      let cursor = '0-0'
      do {
        if (stopping) return
        const [next, entries] = (await redis.xautoclaim(stream, opts.group, opts.consumer, minIdleMs, cursor, 'COUNT', batchSize)) as [string, Entry[], string[]]
        cursor = next
        if (entries.length === 0) continue
        const counts = new Map<string, number>()
        const first = entries[0]?.[0]
        const last = entries[entries.length - 1]?.[0]
        if (first && last) {
          const pending = (await redis.xpending(stream, opts.group, first, last, entries.length, opts.consumer)) as Array<[string, string, number, number]>
          for (const [id, , , times] of pending) counts.set(id, times)
        }
        await handleReply([[stream, entries]], (_s, id) => counts.get(id) ?? 2)
      } while (cursor !== '0-0')
    }
  }

  async function refreshGauges(): Promise<void> {
    for (const stream of streams) {
      const family = familyOf.get(stream) ?? 'unknown'
      const groups = (await redis.xinfo('GROUPS', stream).catch(() => [])) as unknown[][]
      for (const group of groups) {
        const info: Record<string, unknown> = Object.create(null)
        for (let i = 0; i + 1 < group.length; i += 2) info[String(group[i])] = group[i + 1]
        if (info.name !== opts.group) continue
        metrics.pending.set({ group: opts.group, family }, Number(info.pending ?? 0))
        // Redis 7 reports the lag; null when it cannot tell (after a trim past the group).
        if (info.lag !== null && info.lag !== undefined) metrics.lag.set({ group: opts.group, family }, Number(info.lag))
      }
    }
  }

  try {
    await ensureGroups()
  } catch (error) {
    // Redis did not answer: the caller may try again (keepConsuming does), with a new connection.
    redis.disconnect()
    throw error
  }

  async function run(): Promise<void> {
    let lastClaim = 0
    let failuresInARow = 0
    await drainOwnPending().catch((error: Error) => logger.warn({ err: { message: error.message } }, 'could not read own pending entries; XAUTOCLAIM will take them'))
    while (!stopping) {
      try {
        if (Date.now() - lastClaim >= claimEveryMs) {
          lastClaim = Date.now()
          await claimIdle()
          await refreshGauges()
        }
        reading = true
        const reply = (await redis.xreadgroup('GROUP', opts.group, opts.consumer, 'COUNT', batchSize, 'BLOCK', blockMs, 'STREAMS', ...streams, ...streams.map(() => '>'))) as StreamReply | null
        reading = false
        await handleReply(reply, () => 1)
        failuresInARow = 0
      } catch (error) {
        reading = false
        if (stopping) return
        const message = (error as Error).message
        // The streams (and their groups) are gone: Redis was lost or flushed, or the relay dropped
        // them to refill them from Postgres. The groups come back at the streams' start.
        if (/NOGROUP|UNBLOCKED/.test(message)) {
          await ensureGroups().catch(() => undefined)
          continue
        }
        failuresInARow += 1
        logger.warn({ err: { message }, group: opts.group }, 'event stream read failed; retrying')
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 100 * 2 ** Math.min(failuresInARow, 6))))
      }
    }
  }

  const loop = run()
  return {
    get handled() {
      return handled
    },
    async stop() {
      if (stopping) return
      stopping = true
      // A blocked read is cut (nothing it returns is lost: unread entries stay in the stream); an
      // entry being handled is finished and acknowledged first.
      if (reading) redis.disconnect()
      await loop
      redis.disconnect()
    },
  }
}
