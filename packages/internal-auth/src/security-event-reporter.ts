// Collects security events off the request path, folds repeated refusals into one event per
// window, and hands them to a sink: compliance-service over HTTP, or (in the services) a durable
// buffer that a relay drains. A flood of refusals becomes a handful of writes, never one each.
import { randomUUID } from 'node:crypto'
import type { SecurityEventInput, SecurityEventReporter } from '@hub/contracts'
import { InternalCallError, type InternalClient } from './internal-client.ts'

export const SECURITY_EVENTS_PATH = '/internal/security-events'

export interface ReporterLogger {
  warn(obj: object, msg?: string): void
}

/**
 * Where the reporter's events go. An event may be written several times under one id, each time
 * with a higher `count`: a receiver keeps the highest, so a rewrite is as safe as a resend.
 */
export interface SecurityEventSink {
  /** Resolves once the events are durable (or delivered); rejects when they are not. */
  write(events: SecurityEventInput[]): Promise<void>
}

/** Thrown by a sink that will never accept these events; the reporter drops them instead of retrying forever. */
export class PermanentSinkError extends Error {
  override readonly name = 'PermanentSinkError'
}

/** Posts events to compliance-service's intake. */
export function httpSecurityEventSink(client: Pick<InternalClient, 'request'>): SecurityEventSink {
  return {
    async write(events) {
      try {
        await client.request({ method: 'POST', path: SECURITY_EVENTS_PATH, body: { events } })
      } catch (err) {
        const status = err instanceof InternalCallError ? err.status : null
        // 4xx other than 408/429 means the receiver will never take this batch: retrying would
        // block everything behind it. Anything else is transient, and event ids make a resend safe.
        if (status !== null && status >= 400 && status < 500 && status !== 408 && status !== 429) {
          throw new PermanentSinkError(`compliance-service refused the batch with ${status}`, { cause: err })
        }
        throw err
      }
    },
  }
}

export interface SecurityEventReporterOptions {
  /** Where events go; `client` is the shorthand for an HTTP sink to compliance-service. */
  sink?: SecurityEventSink
  client?: Pick<InternalClient, 'request'>
  /** This service's name; used when an event does not name its own source. */
  source: string
  logger?: ReporterLogger
  /**
   * Repeats of one (source, type, code, tenant, proven principal or else IP) within this many
   * milliseconds become one event with a count and first/last seen. 0 keeps every event on its own.
   */
  windowMs?: number
  /** Distinct events held at most; beyond it new ones fold into a coarser event per (source, code, tenant). */
  maxQueue?: number
  /** Events per write; the intake contract allows at most 500. */
  batchSize?: number
  flushIntervalMs?: number
  /** Called with how many refusals were lost (a metric counts them). */
  onDrop?: (refusals: number) => void
}

export interface BatchingSecurityEventReporter extends SecurityEventReporter {
  /** Writes what is waiting now; resolves when done, never rejects. */
  flush(): Promise<void>
  /** Stops the timer and writes everything still waiting; never rejects. */
  close(): Promise<void>
  /** Events with refusals not yet written. */
  readonly pending: number
  /** Refusals lost so far: the receiver refused them for good, or they were still unwritten at close. */
  readonly dropped: number
}

type ReportedEvent = Parameters<SecurityEventReporter['report']>[0]

interface Aggregate {
  event: SecurityEventInput
  count: number
  firstSeen: number
  lastSeen: number
  windowEnds: number
  /** Refusals happened since the last successful write. */
  dirty: boolean
  /** The count the sink last accepted. */
  written: number
}

// Mirrors the string limits of SecurityEventInputSchema: one oversized field must not get the
// whole batch refused by compliance-service.
function clip<T extends string | null | undefined>(value: T, max: number): T {
  return (typeof value === 'string' && value.length > max ? value.slice(0, max) : value) as T
}

function sinkOf(options: SecurityEventReporterOptions): SecurityEventSink {
  if (options.sink) return options.sink
  if (options.client) return httpSecurityEventSink(options.client)
  throw new Error('createSecurityEventReporter: a sink or a client is required')
}

export function createSecurityEventReporter(options: SecurityEventReporterOptions): BatchingSecurityEventReporter {
  const { logger } = options
  const sink = sinkOf(options)
  const windowMs = Math.max(0, options.windowMs ?? 0)
  const maxQueue = options.maxQueue ?? 1000
  const batchSize = Math.min(options.batchSize ?? 100, 500)
  const flushIntervalMs = options.flushIntervalMs ?? 1000
  /** The current window of each key. */
  const open = new Map<string, Aggregate>()
  /** Windows that ended before they were written. */
  let retired: Aggregate[] = []
  let dropped = 0
  let closed = false
  let inFlight: Promise<void> | null = null

  const timer = setInterval(() => {
    void flush()
  }, flushIntervalMs)
  // A reporter must never keep a process alive on its own.
  timer.unref()

  function warn(obj: object, msg: string): void {
    try {
      logger?.warn(obj, msg)
    } catch {
      // A broken logger must not turn reporting into a throwing call.
    }
  }

  function drop(refusals: number, context: object, msg: string): void {
    if (refusals <= 0) return
    const before = dropped
    dropped += refusals
    try {
      options.onDrop?.(refusals)
    } catch {
      // A metric must not turn reporting into a throwing call.
    }
    // One line per hundred, not one per refusal: a flood must not become a log flood.
    if (before === 0 || Math.floor(before / 100) !== Math.floor(dropped / 100)) warn({ ...context, dropped }, msg)
  }

  function normalize(event: ReportedEvent): SecurityEventInput {
    return {
      ...event,
      id: event.id ?? randomUUID(),
      occurredAt: event.occurredAt ?? new Date().toISOString(),
      source: clip(event.source || options.source, 64),
      code: clip(event.code, 64),
      actor: clip(event.actor, 200),
      ip: clip(event.ip, 64),
      method: clip(event.method, 16),
      path: clip(event.path, 2048),
      requestId: clip(event.requestId, 128),
    }
  }

  // A proven principal (the contract's `actor`: a verified user or service) is one window wherever
  // it calls from; anyone else is their IP. An actor the caller could pick would let one client
  // open a window per request, which is why an unproven claim is never the actor (verify-plugin
  // keeps it in `details`).
  const keyOf = (e: SecurityEventInput): string => JSON.stringify([e.source, e.type, e.code, e.tenantId ?? null, e.actor ?? null, e.actor ? null : (e.ip ?? null)])
  const coarseKeyOf = (e: SecurityEventInput): string => JSON.stringify([e.source, e.type, e.code, e.tenantId ?? null, '*'])

  function snapshot(agg: Aggregate): SecurityEventInput {
    if (agg.count === 1 && windowMs === 0) return agg.event
    return { ...agg.event, count: agg.count, firstSeenAt: new Date(agg.firstSeen).toISOString(), lastSeenAt: new Date(agg.lastSeen).toISOString() }
  }

  function dirtyCount(): number {
    let n = retired.length
    for (const agg of open.values()) if (agg.dirty) n++
    return n
  }

  function report(event: ReportedEvent): void {
    try {
      if (closed) {
        drop(1, { closed }, 'security event dropped')
        return
      }
      const now = Date.now()
      let normalized = normalize(event)
      let key = windowMs > 0 ? keyOf(normalized) : normalized.id
      let agg = open.get(key)
      let window = windowMs
      if (agg === undefined && open.size + retired.length >= maxQueue) {
        // Too many distinct callers at once (a spray of IPs): keep counting them, less precisely.
        normalized = { ...normalized, actor: null, ip: null, details: { ...normalized.details, folded: true } }
        key = coarseKeyOf(normalized)
        agg = open.get(key)
        // Folding needs a window even where events are otherwise kept one by one.
        window = Math.max(windowMs, flushIntervalMs)
        if (agg === undefined && open.size + retired.length >= 2 * maxQueue) {
          drop(1, {}, 'security event dropped: buffer full')
          return
        }
      }
      if (agg !== undefined && now >= agg.windowEnds) {
        open.delete(key)
        if (agg.dirty) retired.push(agg)
        agg = undefined
      }
      if (agg !== undefined) {
        agg.count++
        agg.lastSeen = now
        agg.dirty = true
        return
      }
      const at = Date.parse(normalized.occurredAt)
      const seen = Number.isNaN(at) ? now : at
      open.set(key, { event: normalized, count: 1, firstSeen: seen, lastSeen: seen, windowEnds: now + window, dirty: true, written: 0 })
      if (dirtyCount() >= batchSize) void flush()
    } catch (err) {
      warn({ err }, 'security event could not be queued')
    }
  }

  async function drain(): Promise<void> {
    for (;;) {
      const batch: Aggregate[] = retired.slice(0, batchSize)
      if (batch.length < batchSize) {
        for (const agg of open.values()) {
          if (batch.length >= batchSize) break
          if (agg.dirty) batch.push(agg)
        }
      }
      if (batch.length === 0) break
      // Taken as written now: a refusal arriving during the write marks it dirty again.
      const counts = batch.map((agg) => agg.count)
      for (const agg of batch) agg.dirty = false
      try {
        await sink.write(batch.map(snapshot))
        batch.forEach((agg, i) => {
          agg.written = counts[i] ?? agg.written
        })
        retired = retired.filter((agg) => !batch.includes(agg))
      } catch (err) {
        if (err instanceof PermanentSinkError) {
          retired = retired.filter((agg) => !batch.includes(agg))
          for (const [key, agg] of open) if (batch.includes(agg)) open.delete(key)
          drop(
            batch.reduce((sum, agg) => sum + agg.count - agg.written, 0),
            { err: { message: err.message } },
            'security events refused by the receiver',
          )
        } else {
          for (const agg of batch) agg.dirty = true
          warn({ err: { message: (err as Error).message }, events: batch.length }, 'security events not delivered')
        }
        return
      }
      if (batch.length < batchSize) break
    }
  }

  function flush(): Promise<void> {
    if (inFlight !== null) return inFlight
    const now = Date.now()
    // Windows that ended and were written have nothing left to say.
    for (const [key, agg] of open) {
      if (now >= agg.windowEnds && !agg.dirty) open.delete(key)
    }
    // The promise is stored before anything can clear it: clearing in a `finally` inside the
    // async body ran synchronously when there was nothing to send, before the assignment, and
    // left a settled promise in place that every later flush returned without sending.
    const run = drain().catch((err: unknown) => warn({ err }, 'security event flush failed'))
    inFlight = run.finally(() => {
      inFlight = null
    })
    return inFlight
  }

  async function close(): Promise<void> {
    if (closed) return
    closed = true
    clearInterval(timer)
    if (inFlight !== null) await inFlight
    await flush()
    let lost = 0
    let events = 0
    for (const agg of [...retired, ...open.values()]) {
      if (!agg.dirty) continue
      lost += agg.count - agg.written
      events++
    }
    if (events > 0) drop(lost, { events }, 'security events lost on close')
    retired = []
    open.clear()
  }

  return {
    report,
    flush,
    close,
    get pending() {
      return dirtyCount()
    },
    get dropped() {
      return dropped
    },
  }
}
