// One shared ioredis connection per app. Keys are prefixed by hand (REDIS_KEY_PREFIX) rather than
// by ioredis' keyPrefix, because Bull and @fastify/rate-limit manage their own prefixes.
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis
    redisPrefix: string
  }
}

export function createRedis(url: string, name: string): Redis {
  return new Redis(url, {
    connectionName: name,
    // Nothing waits on a Redis that is down: a command is refused after one failed reconnect,
    // and none takes longer than a second (a black-holed host would otherwise hold it for the
    // 10 s connect timeout), so callers answer 503 or fall back instead of hanging. Commands
    // issued while (re)connecting still queue for that long, so start-up needs no special care.
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    connectTimeout: 2_000,
    commandTimeout: 1_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  })
}

/**
 * Redis holds queues, run locks and nonces: an eviction policy other than `noeviction` would let
 * Redis drop them silently under memory pressure. Refused in production (`required`), warned about
 * elsewhere; a Redis that does not answer CONFIG (managed services often disable it) gets a warning.
 */
export async function checkEvictionPolicy(redis: Redis, log: { warn(obj: object, msg: string): void }, required: boolean): Promise<void> {
  let policy: string | undefined
  try {
    const reply = (await redis.call('CONFIG', 'GET', 'maxmemory-policy')) as string[]
    policy = reply[1]
  } catch (error) {
    log.warn({ err: { message: (error as Error).message } }, 'could not read the Redis maxmemory-policy (CONFIG may be disabled on a managed Redis); make sure it is noeviction')
    return
  }
  if (policy === undefined || policy === 'noeviction') return
  const message = `Redis maxmemory-policy is ${policy}: under memory pressure Redis would evict queued jobs, run locks and nonces. Set it to noeviction.`
  if (required) throw new Error(message)
  log.warn({ policy }, message)
}

export default fp(
  async (fastify, opts: { url: string; prefix: string; service: string; requireNoEviction?: boolean }) => {
    const redis = createRedis(opts.url, opts.service)
    redis.on('error', (error) => fastify.log.warn({ err: { message: error.message } }, 'redis error'))
    fastify.decorate('redis', redis)
    fastify.decorate('redisPrefix', opts.prefix)
    fastify.addReadinessCheck('redis', async () => {
      const answer = await redis.ping()
      if (answer !== 'PONG') throw new Error(`unexpected answer ${answer}`)
    })
    fastify.addHook('onReady', async () => checkEvictionPolicy(redis, fastify.log, opts.requireNoEviction ?? false))
    fastify.addHook('onClose', async () => {
      await redis.quit().catch(() => redis.disconnect())
    })
  },
  { name: '@hub/redis', fastify: '5.x', dependencies: ['@hub/health'] },
)
