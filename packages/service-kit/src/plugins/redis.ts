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

export default fp(
  async (fastify, opts: { url: string; prefix: string; service: string }) => {
    const redis = createRedis(opts.url, opts.service)
    redis.on('error', (error) => fastify.log.warn({ err: { message: error.message } }, 'redis error'))
    fastify.decorate('redis', redis)
    fastify.decorate('redisPrefix', opts.prefix)
    fastify.addReadinessCheck('redis', async () => {
      const answer = await redis.ping()
      if (answer !== 'PONG') throw new Error(`unexpected answer ${answer}`)
    })
    fastify.addHook('onClose', async () => {
      await redis.quit().catch(() => redis.disconnect())
    })
  },
  { name: '@hub/redis', fastify: '5.x', dependencies: ['@hub/health'] },
)
