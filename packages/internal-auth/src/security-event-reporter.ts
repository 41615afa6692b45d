// Ships security events to compliance-service in batches, off the request path.
import { randomUUID } from 'node:crypto'
import type { SecurityEventInput, SecurityEventReporter } from '@hub/contracts'
import { InternalCallError, type InternalClient } from './internal-client.ts'

export const SECURITY_EVENTS_PATH = '/internal/security-events'

export interface ReporterLogger {
  warn(obj: object, msg?: string): void
}

export interface SecurityEventReporterOptions {
  client: Pick<InternalClient, 'request'>
  /** This service's name; used when an event does not name its own source. */
  source: string
  logger?: ReporterLogger
  /** Events held at most; beyond it new events are dropped (and counted) rather than growing memory. */
  maxQueue?: number
  /** Events per POST; the contract allows at most 500. */
  batchSize?: number
  flushIntervalMs?: number
}

export interface BatchingSecurityEventReporter extends SecurityEventReporter {
  /** Sends what is queued now; resolves when done, never rejects. */
  flush(): Promise<void>
  /** Stops the timer and sends everything still queued; never rejects. */
  close(): Promise<void>
  /** Events currently waiting. */
  readonly pending: number
  /** Events dropped so far because the queue was full, closed, or refused by the receiver. */
  readonly dropped: number
}

type ReportedEvent = Parameters<SecurityEventReporter['report']>[0]

// Mirrors the string limits of SecurityEventInputSchema: one oversized field must not get the
// whole batch refused by compliance-service.
function clip<T extends string | null | undefined>(value: T, max: number): T {
  return (typeof value === 'string' && value.length > max ? value.slice(0, max) : value) as T
}

export function createSecurityEventReporter(options: SecurityEventReporterOptions): BatchingSecurityEventReporter {
  const { client, logger } = options
  const maxQueue = options.maxQueue ?? 1000
  const batchSize = Math.min(options.batchSize ?? 100, 500)
  const flushIntervalMs = options.flushIntervalMs ?? 1000
  const queue: SecurityEventInput[] = []
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

  async function sendOnce(): Promise<boolean> {
    const batch = queue.splice(0, batchSize)
    if (batch.length === 0) return false
    try {
      await client.request({ method: 'POST', path: SECURITY_EVENTS_PATH, body: { events: batch } })
      return true
    } catch (err) {
      const status = err instanceof InternalCallError ? err.status : null
      // 4xx other than 408/429 means the receiver will never take this batch: requeueing would
      // block the queue forever. Anything else is transient, and event ids make a resend safe.
      const permanent = status !== null && status >= 400 && status < 500 && status !== 408 && status !== 429
      if (permanent) {
        dropped += batch.length
      } else {
        const room = Math.max(0, maxQueue - queue.length)
        queue.unshift(...batch.slice(0, room))
        dropped += batch.length - Math.min(room, batch.length)
      }
      warn({ err, events: batch.length, requeued: !permanent }, 'security events not delivered')
      return false
    }
  }

  function flush(): Promise<void> {
    if (inFlight !== null) return inFlight
    inFlight = (async () => {
      try {
        // Drain in batches; stop at the first failure and leave the rest for the next tick.
        while (queue.length > 0 && (await sendOnce()));
      } finally {
        inFlight = null
      }
    })()
    return inFlight
  }

  function report(event: ReportedEvent): void {
    try {
      if (closed || queue.length >= maxQueue) {
        dropped++
        if (dropped === 1 || dropped % 100 === 0) warn({ dropped, closed }, 'security event dropped')
        return
      }
      queue.push(normalize(event))
      if (queue.length >= batchSize) void flush()
    } catch (err) {
      warn({ err }, 'security event could not be queued')
    }
  }

  async function close(): Promise<void> {
    if (closed) return
    closed = true
    clearInterval(timer)
    if (inFlight !== null) await inFlight
    await flush()
    if (queue.length > 0) {
      dropped += queue.length
      warn({ events: queue.length }, 'security events lost on close')
      queue.length = 0
    }
  }

  return {
    report,
    flush,
    close,
    get pending() {
      return queue.length
    },
    get dropped() {
      return dropped
    },
  }
}
