// Deliveries have a Bull queue of their own, processed with their own concurrency: a slow or dead
// receiver ties up delivery slots only, never a sync. Jobs carry ids; the schedule lives in
// Postgres (next_attempt_at), so a lost Redis loses nothing the sweeper cannot put back.
import Bull from 'bull'
import { Redis, type RedisOptions } from 'ioredis'

export const OUTBOUND_WEBHOOK_QUEUE = 'integration-webhooks-out'

export interface DeliveryJobData {
  tenantId: string
  messageId: string
  /** The attempt count the job was made for: a job whose message moved on claims nothing. */
  attempt: number
}

export interface OutboundWebhookQueue {
  queue: Bull.Queue<DeliveryJobData>
  /** Idempotent per (message, attempt): Bull keeps one job per id. */
  enqueue(data: DeliveryJobData, delayMs?: number): Promise<void>
  close(): Promise<void>
}

export function createOutboundWebhookQueue(options: { redisUrl: string; prefix: string }): OutboundWebhookQueue {
  const base: RedisOptions = { maxRetriesPerRequest: null, enableReadyCheck: false }
  const connect = () => new Redis(options.redisUrl, base).on('error', () => undefined)
  const shared = { client: connect(), subscriber: connect() }
  const blocking: Redis[] = []
  const createClient = (type: 'client' | 'subscriber' | 'bclient') => {
    if (type !== 'bclient') return shared[type]
    const client = connect()
    blocking.push(client)
    return client
  }
  const queue = new Bull<DeliveryJobData>(OUTBOUND_WEBHOOK_QUEUE, {
    createClient,
    prefix: `${options.prefix}bull`,
    defaultJobOptions: {
      // Retries of a failed delivery are scheduled by the processor (the message's schedule); these
      // only cover a processor that threw (database unreachable) before the lease rescue.
      attempts: 3,
      backoff: { type: 'fixed', delay: 1_000 },
      removeOnComplete: { age: 3600, count: 5_000 },
      removeOnFail: { age: 24 * 3600, count: 5_000 },
    },
  })
  return {
    queue,
    async enqueue(data, delayMs = 0) {
      await queue.add(data, { jobId: `${data.messageId}:${data.attempt}`, ...(delayMs > 0 ? { delay: delayMs } : {}) })
    },
    async close() {
      await queue.close()
      for (const client of [shared.client, shared.subscriber, ...blocking]) client.disconnect()
    },
  }
}
