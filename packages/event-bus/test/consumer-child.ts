// A consumer process for the crash tests: prints each event id it receives (`got <id> <deliveries>`)
// and, with HANG_ON_FIRST=1, never finishes handling the first one, so it is killed unacknowledged.
// Env: REDIS_URL, PREFIX, GROUP, CONSUMER, HANG_ON_FIRST.
import { Redis } from 'ioredis'
import { startEventConsumer } from '../src/index.ts'

const redis = new Redis(String(process.env.REDIS_URL))
let first = true
const consumer = await startEventConsumer({
  redis,
  keyPrefix: String(process.env.PREFIX),
  families: ['sync'],
  group: String(process.env.GROUP),
  consumer: String(process.env.CONSUMER),
  blockMs: 200,
  minIdleMs: 60_000,
  handle: async (event, delivery) => {
    process.stdout.write(`got ${event.id} ${delivery.deliveries}\n`)
    if (first && process.env.HANG_ON_FIRST === '1') {
      first = false
      await new Promise(() => undefined)
    }
  },
})
process.once('SIGTERM', () => {
  void consumer.stop().then(() => redis.quit().then(() => process.exit(0)))
})
process.stdout.write('ready\n')
