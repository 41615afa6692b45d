// A relay process that dies (SIGKILL) right after its first XADD batch reached Redis and before the
// rows are marked relayed: the crash the relay must survive without duplicates or gaps.
// Env: DATABASE_URL, REDIS_URL, REDIS_KEY_PREFIX, RELAY_BATCH.
import { createDatabase, createKnex, createRedis, systemRoleOf } from '@hub/service-kit'
import { createEventOutboxRepository } from '../../src/plugins/app/events/event-outbox-repository.ts'
import { createEventRelay } from '../../src/plugins/app/events/event-relay.ts'
import { INTEGRATION_SCHEMA } from '../../src/db/schema.ts'

const knex = createKnex(String(process.env.DATABASE_URL))
const redis = createRedis(String(process.env.REDIS_URL), 'relay-crash-child')
// The real Redis, except that the process is killed as soon as a publish has been answered.
const dying = {
  exists: redis.exists.bind(redis),
  set: redis.set.bind(redis),
  del: redis.del.bind(redis),
  xlen: redis.xlen.bind(redis),
  pipeline: () => {
    const pipeline = redis.pipeline()
    const exec = pipeline.exec.bind(pipeline)
    pipeline.exec = async () => {
      const results = await exec()
      process.kill(process.pid, 'SIGKILL')
      return results
    }
    return pipeline
  },
} as Parameters<typeof createEventRelay>[0]['redis']

const relay = createEventRelay({
  db: createDatabase(knex, { systemRole: systemRoleOf(INTEGRATION_SCHEMA.appRole) }),
  redis: dying,
  prefix: String(process.env.REDIS_KEY_PREFIX),
  outbox: createEventOutboxRepository(),
  batchSize: Number(process.env.RELAY_BATCH),
  maxLen: 10_000,
  retentionMs: 3_600_000,
})
await relay.relayBatch()
// Not reached when there was something to publish.
process.exit(3)
