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
  /**
   * For a message Postgres says is due: after this its job is waiting or running, whatever Bull
   * held under the id (nothing, a finished job, a job delayed past the message's time).
   */
  requeue(data: DeliveryJobData): Promise<void>
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
      // only cover a processor that threw (database unreachable). A job that runs out of them before
      // its claim stays in the failed set under its id: the sweeper's requeue replaces it.
      attempts: 3,
      backoff: { type: 'fixed', delay: 1_000 },
      removeOnComplete: { age: 3600, count: 5_000 },
      removeOnFail: { age: 24 * 3600, count: 5_000 },
    },
  })
  const jobIdOf = (data: DeliveryJobData) => `${data.messageId}:${data.attempt}`
  return {
    queue,
    async enqueue(data, delayMs = 0) {
      await queue.add(data, { jobId: jobIdOf(data), ...(delayMs > 0 ? { delay: delayMs } : {}) })
    },
    async requeue(data) {
      const jobId = jobIdOf(data)
      const job = await queue.getJob(jobId)
      if (job) {
        // Set lookups only: asking whether a job is waiting or active scans Bull's whole list.
        const [failed, completed, delayed] = await Promise.all([job.isFailed(), job.isCompleted(), job.isDelayed()])
        // A replay while a retry waits: the message is due now, the job with its id hours later.
        // Promoted, not added again: the job is the attempt's one, and losing a race (it just
        // became waiting or active) leaves it live anyway.
        if (delayed) return job.promote().catch(() => undefined)
        // Waiting or active: it runs, and an add under its id would be ignored anyway.
        if (!failed && !completed) return
        // A finished job keeps its id (until removeOnFail or removeOnComplete trims it, which only
        // another job's finishing does) and Bull ignores an add under an id it holds: a job that
        // failed before its claim (the database was down for its three tries) would strand its
        // message. Removing it is safe because the claim, not the job id, is what stops a second
        // delivery: a job whose attempt already ran finds the attempt count moved on. A removal
        // refused (another sweeper replaced the job and a worker holds it) leaves the add a no-op.
        await job.remove().catch(() => undefined)
      }
      await queue.add(data, { jobId })
    },
    async close() {
      await queue.close()
      for (const client of [shared.client, shared.subscriber, ...blocking]) client.disconnect()
    },
  }
}
