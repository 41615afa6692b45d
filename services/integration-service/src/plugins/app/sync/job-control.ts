// Redis-side controls of running jobs: cancel flags (checked by a run between pages), exclusive
// run locks per (connection, entity) with TTL renewal (so a killed worker's lock lapses), and
// giving a job back an attempt it should not have spent (a provider's wait, a shutdown).
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type Bull from 'bull'
import type { Redis } from 'ioredis'
import { SyncFailure } from './sync-errors.ts'

const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
const RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
// Writing into the hash of a job Redis no longer has would leave a partial job record behind.
const SET_OPTS_IF_EXISTS = "if redis.call('exists', KEYS[1]) == 1 then return redis.call('hset', KEYS[1], 'opts', ARGV[1]) else return -1 end"

export interface RunLock {
  /** False once the lock was lost (expired and taken by someone else). */
  held(): boolean
  release(): Promise<void>
}

export function createJobControl(deps: { redis: Redis; prefix: string; lockTtlMs: number }) {
  const { redis } = deps
  const cancelKey = (jobId: string) => `${deps.prefix}sync:cancel:${jobId}`

  return {
    async requestCancel(jobId: string): Promise<void> {
      await redis.set(cancelKey(jobId), '1', 'EX', 24 * 3600)
    },

    async cancelRequested(jobId: string): Promise<boolean> {
      return (await redis.exists(cancelKey(jobId))) === 1
    },

    async clearCancel(jobId: string): Promise<void> {
      await redis.del(cancelKey(jobId))
    },

    /**
     * Takes the exclusive lock of a run, waiting up to `waitMs` for a previous holder (a worker
     * that died keeps it until its TTL lapses). The lock is renewed until released.
     */
    async lockRun(name: string, waitMs = deps.lockTtlMs + 1_000): Promise<RunLock> {
      const key = `${deps.prefix}sync:runlock:${name}`
      const token = randomUUID()
      const deadline = Date.now() + waitMs
      while ((await redis.set(key, token, 'PX', deps.lockTtlMs, 'NX')) !== 'OK') {
        if (Date.now() > deadline) {
          throw new SyncFailure('RUN_LOCKED', 'Another run of this connection and entity is still in progress.', { disposition: 'defer', retryAfterMs: deps.lockTtlMs })
        }
        await sleep(200)
      }
      let held = true
      const timer = setInterval(
        () => {
          redis.eval(RENEW, 1, key, token, deps.lockTtlMs).then(
            (renewed) => {
              if (Number(renewed) !== 1) held = false
            },
            () => undefined,
          )
        },
        Math.max(250, Math.floor(deps.lockTtlMs / 3)),
      )
      timer.unref()
      return {
        held: () => held,
        async release() {
          clearInterval(timer)
          held = false
          await redis.eval(RELEASE, 1, key, token).catch(() => undefined)
        },
      }
    },
  }
}

export type JobControl = ReturnType<typeof createJobControl>

/**
 * Gives the job one more attempt before it throws a failure that should not count (a provider's
 * Retry-After, a shutdown): Bull decides retries from `opts.attempts`, which it re-reads from the
 * job hash on every attempt, so the raised limit is written back there too.
 */
export async function keepAttempt(job: Bull.Job): Promise<void> {
  job.opts.attempts = (job.opts.attempts ?? 1) + 1
  await job.queue.client.eval(SET_OPTS_IF_EXISTS, 1, job.queue.toKey(String(job.id)), JSON.stringify(job.opts))
}
