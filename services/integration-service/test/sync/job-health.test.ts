// How a run's Bull job stands decides whether the reconciler (and a new request for the same
// connection) treats it as lost and deletes its keys. It is read in one script, so a job moving
// between two lists can never look like a job in none; each list is placed here by hand, as Bull
// leaves it.
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { deleteRedisPrefix, TEST_REDIS_URL, testRedisPrefix } from '@hub/service-kit/testing'
import { jobHealth, jobState } from '../../src/plugins/app/sync/sync-reconciler.ts'
import { createSyncQueues, type SyncJobData } from '../../src/plugins/app/sync/sync-queues.ts'

const prefix = testRedisPrefix()
const queues = createSyncQueues({ redisUrl: TEST_REDIS_URL, prefix })
after(async () => {
  await queues.close()
  await deleteRedisPrefix(prefix)
})

const data = (id: string): SyncJobData => ({
  kind: 'sync',
  tenantId: '00000000-0000-4000-8000-000000000001',
  venueId: '00000000-0000-4000-8000-000000000002',
  connectionId: '00000000-0000-4000-8000-000000000003',
  provider: 'stripe',
  entity: 'customer',
  mode: 'full',
  trigger: 'manual',
  syncLogId: id,
})

/** A job added to `queue` (nobody here processes it), then moved by hand from `wait` into `list`. */
async function jobIn(id: string, list: 'wait' | 'active' | 'paused' | 'delayed' | 'completed' | 'failed' | 'none', queue = queues.queues.high): Promise<void> {
  await queue.add('sync', data(id), { jobId: id })
  const redis = queue.client
  await redis.lrem(queue.toKey('wait'), 0, id)
  await redis.lrem(queue.toKey('paused'), 0, id)
  if (list === 'wait' || list === 'active' || list === 'paused') await redis.lpush(queue.toKey(list), id)
  else if (list !== 'none') await redis.zadd(queue.toKey(list), Date.now(), id)
}

test("a job in one of Bull's lists is live or finished, a job record in none is partial, and no record is missing", async () => {
  const queue = queues.queues.high
  const expected = { wait: 'live', active: 'live', paused: 'live', delayed: 'live', completed: 'finished', failed: 'finished', none: 'partial' } as const
  for (const [list, health] of Object.entries(expected) as Array<[keyof typeof expected, string]>) {
    const id = `job-in-${list}`
    await jobIn(id, list)
    const read = await jobHealth(queues, queue.name, id)
    assert.equal(read.health, health, `a job in ${list}`)
    assert.equal(read.job?.id, id)
  }
  assert.deepEqual(await jobHealth(queues, queue.name, 'never-added'), { health: 'missing', job: null })
  assert.equal((await jobHealth(queues, 'no-such-queue', 'job-in-wait')).health, 'missing')
})

test("a job's state, as the job views show it, is named after the one list that holds it", async () => {
  const queue = queues.queues.normal
  const expected = { wait: 'waiting', active: 'active', paused: 'paused', delayed: 'delayed', completed: 'completed', failed: 'failed', none: 'stuck' } as const
  for (const [list, state] of Object.entries(expected) as Array<[keyof typeof expected, string]>) {
    await jobIn(`state-in-${list}`, list, queue)
    assert.equal(await jobState(queue, `state-in-${list}`), state, `a job in ${list}`)
  }
  assert.equal(await jobState(queue, 'never-added'), 'gone')
})

test('a job that moves between lists while its state is read is never taken for one in none', async () => {
  // A queue of its own: the job is the only element of its lists.
  const queue = queues.queues.low
  await jobIn('moving', 'wait', queue)
  const redis = queue.client.duplicate()
  let moves = 0
  let stop = false
  // Back and forth between wait and active, each move one atomic step as Bull's own are.
  const mover = (async () => {
    while (!stop) {
      await redis.lmove(queue.toKey(moves % 2 === 0 ? 'wait' : 'active'), queue.toKey(moves % 2 === 0 ? 'active' : 'wait'), 'LEFT', 'LEFT')
      moves++
    }
  })()
  const seen = new Set<string>()
  for (let i = 0; i < 300; i++) seen.add((await jobHealth(queues, queue.name, 'moving')).health)
  stop = true
  await mover
  redis.disconnect()
  assert.ok(moves > 300, `the job moved ${moves} times while it was read`)
  assert.deepEqual([...seen], ['live'])
})
