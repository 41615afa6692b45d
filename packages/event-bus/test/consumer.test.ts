// The consumer against a real Redis: order and acknowledgement, entries of a consumer killed before
// acknowledging delivered again (to itself on restart, to another after the idle time), failed
// handlers retried, invalid entries set aside, streams lost and recreated, a graceful stop.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { Registry } from 'prom-client'
import type { HubEvent } from '@hub/contracts'
import { deadLetterStreamKey, hubEventStreamKey, startEventConsumer, type EventConsumer } from '../src/index.ts'

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
const redis = new Redis(REDIS_URL)
const prefixes: string[] = []
after(async () => {
  for (const prefix of prefixes) {
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
  }
  await redis.quit()
})

function newPrefix(): string {
  const prefix = `test:bus:${randomUUID().slice(0, 8)}:`
  prefixes.push(prefix)
  return prefix
}

const connectionId = randomUUID()
let position = 0
function syncEvent(sequence: number): HubEvent {
  return {
    id: randomUUID(),
    type: 'integration.sync.started',
    version: 1,
    tenantId: randomUUID(),
    venueId: randomUUID(),
    connectionId,
    sequence,
    occurredAt: new Date().toISOString(),
    data: { syncLogId: randomUUID(), provider: 'stripe', entity: 'customer', kind: 'pull', mode: 'full', trigger: 'manual', startedAt: new Date().toISOString() },
  }
}

async function publish(prefix: string, events: HubEvent[]): Promise<void> {
  for (const event of events) await redis.xadd(hubEventStreamKey(prefix, 'sync'), `${++position}-0`, 'event', JSON.stringify(event))
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

const pendingCount = async (prefix: string, group: string): Promise<number> => Number(((await redis.xpending(hubEventStreamKey(prefix, 'sync'), group)) as [number])[0])

function spawnConsumer(env: Record<string, string>): { child: ChildProcess; lines: string[]; ready: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'consumer-child.ts')], { env: { ...process.env, REDIS_URL, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const lines: string[] = []
  let markReady: () => void = () => undefined
  const ready = new Promise<void>((resolve) => (markReady = resolve))
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    lines.push(line)
    if (line === 'ready') markReady()
  })
  return { child, lines, ready }
}

const killed = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())))

test('hands events over in stream order and acknowledges each after its handler; a second group gets them all too', async (t) => {
  const prefix = newPrefix()
  const events = Array.from({ length: 20 }, (_, i) => syncEvent(i + 1))
  await publish(prefix, events)
  const seen: Record<string, number[]> = { a: [], b: [] }
  const consumers: EventConsumer[] = []
  const registry = new Registry()
  for (const group of ['a', 'b']) {
    consumers.push(await startEventConsumer({ redis, keyPrefix: prefix, families: ['sync'], group, consumer: 'one', blockMs: 200, registry, handle: async (event) => void seen[group]?.push(event.sequence) }))
  }
  t.after(() => Promise.all(consumers.map((consumer) => consumer.stop())))
  await until('both groups to finish', () => seen.a?.length === 20 && seen.b?.length === 20)
  assert.deepEqual(
    seen.a,
    events.map((event) => event.sequence),
  )
  assert.deepEqual(seen.b, seen.a)
  assert.equal(await pendingCount(prefix, 'a'), 0)
  assert.equal(await pendingCount(prefix, 'b'), 0)
  const metrics = await registry.metrics()
  assert.match(metrics, /event_consumer_entries_total\{group="a",family="sync",outcome="handled"\} 20/)
  assert.match(metrics, /event_consumer_latency_seconds_count\{group="b"\} 20/)
})

test('a consumer process killed before acknowledging gets the event again when it restarts under the same name', async () => {
  const prefix = newPrefix()
  const [first, second] = [syncEvent(1), syncEvent(2)]
  await publish(prefix, [first, second])
  const doomed = spawnConsumer({ PREFIX: prefix, GROUP: 'g', CONSUMER: 'worker-1', HANG_ON_FIRST: '1' })
  await until('the first delivery', () => doomed.lines.some((line) => line.startsWith(`got ${first.id} `)))
  doomed.child.kill('SIGKILL')
  await killed(doomed.child)
  assert.equal(await pendingCount(prefix, 'g'), 2, 'both read in one call, neither acknowledged')

  const reborn = spawnConsumer({ PREFIX: prefix, GROUP: 'g', CONSUMER: 'worker-1' })
  await until('both events handled', () => reborn.lines.some((line) => line.startsWith(`got ${second.id} `)))
  assert.deepEqual(
    reborn.lines.filter((line) => line.startsWith('got ')).map((line) => line.split(' ')[1]),
    [first.id, second.id],
    'the unacknowledged one first, then the rest',
  )
  await until('nothing pending', async () => (await pendingCount(prefix, 'g')) === 0)
  reborn.child.kill('SIGTERM')
  await killed(reborn.child)
  assert.equal(reborn.child.exitCode, 0, 'stopped gracefully')
})

test("another consumer of the group takes over a killed consumer's entry once it has been idle for minIdleMs", async (t) => {
  const prefix = newPrefix()
  const event = syncEvent(1)
  await publish(prefix, [event])
  const doomed = spawnConsumer({ PREFIX: prefix, GROUP: 'g', CONSUMER: 'worker-1', HANG_ON_FIRST: '1' })
  await until('the first delivery', () => doomed.lines.some((line) => line.startsWith(`got ${event.id} `)))
  doomed.child.kill('SIGKILL')
  await killed(doomed.child)

  const deliveries: number[] = []
  const survivor = await startEventConsumer({
    redis,
    keyPrefix: prefix,
    families: ['sync'],
    group: 'g',
    consumer: 'worker-2',
    blockMs: 100,
    minIdleMs: 300,
    claimEveryMs: 100,
    registry: new Registry(),
    handle: async (received, delivery) => {
      if (received.id === event.id) deliveries.push(delivery.deliveries)
    },
  })
  t.after(() => survivor.stop())
  await until('the takeover', () => deliveries.length === 1)
  assert.ok((deliveries[0] ?? 0) >= 2, `delivered again (delivery ${deliveries[0]})`)
  await until('nothing pending', async () => (await pendingCount(prefix, 'g')) === 0)
})

test('a failing handler leaves the entry pending and gets it again; an invalid entry goes to the dead-letter stream at once', async (t) => {
  const prefix = newPrefix()
  const good = syncEvent(1)
  await publish(prefix, [good])
  await redis.xadd(hubEventStreamKey(prefix, 'sync'), `${++position}-0`, 'event', JSON.stringify({ ...syncEvent(2), data: { name: 'Ada', email: 'ada@example.com' } }))
  const attempts: number[] = []
  const consumer = await startEventConsumer({
    redis,
    keyPrefix: prefix,
    families: ['sync'],
    group: 'g',
    consumer: 'flaky',
    blockMs: 100,
    minIdleMs: 200,
    claimEveryMs: 100,
    registry: new Registry(),
    handle: async (event, delivery) => {
      if (event.id !== good.id) return
      attempts.push(delivery.deliveries)
      if (attempts.length === 1) throw new Error('downstream unavailable')
    },
  })
  t.after(() => consumer.stop())
  await until('the retry', () => attempts.length === 2)
  assert.ok((attempts[1] ?? 0) >= 2)
  await until('nothing pending', async () => (await pendingCount(prefix, 'g')) === 0)
  const dead = (await redis.xrange(deadLetterStreamKey(prefix, 'g'), '-', '+')) as Array<[string, string[]]>
  assert.equal(dead.length, 1)
  assert.match(String(dead[0]?.[1][5]), /^data:/, 'the reason names the problem')
})

test('streams lost with Redis: the consumer recreates its group and goes on with what the relay writes again', async (t) => {
  const prefix = newPrefix()
  await publish(prefix, [syncEvent(1)])
  const seen: number[] = []
  const consumer = await startEventConsumer({ redis, keyPrefix: prefix, families: ['sync'], group: 'g', consumer: 'c', blockMs: 100, registry: new Registry(), handle: async (event) => void seen.push(event.sequence) })
  t.after(() => consumer.stop())
  await until('the first event', () => seen.length === 1)
  await redis.del(hubEventStreamKey(prefix, 'sync'))
  position = 0
  await until('the group to be recreated', async () => ((await redis.exists(hubEventStreamKey(prefix, 'sync'))) === 1 ? true : undefined))
  await publish(prefix, [syncEvent(1), syncEvent(2)])
  await until('the refilled events', () => seen.length === 3)
  assert.deepEqual(seen, [1, 1, 2])
})

test('stop() returns promptly while the consumer is blocked reading', async () => {
  const prefix = newPrefix()
  const consumer = await startEventConsumer({ redis, keyPrefix: prefix, families: ['sync'], group: 'g', consumer: 'c', blockMs: 60_000, registry: new Registry(), handle: async () => undefined })
  await sleep(100)
  await consumer.stop()
  assert.equal(consumer.handled, 0)
})

test('an entry whose handler keeps failing goes to the dead-letter stream after maxDeliveries and is acknowledged', async (t) => {
  const prefix = newPrefix()
  const poison = syncEvent(1)
  await publish(prefix, [poison])
  let attempts = 0
  const consumer = await startEventConsumer({
    redis,
    keyPrefix: prefix,
    families: ['sync'],
    group: 'g',
    consumer: 'c',
    blockMs: 100,
    minIdleMs: 100,
    claimEveryMs: 100,
    maxDeliveries: 3,
    registry: new Registry(),
    handle: async () => {
      attempts += 1
      throw new Error('always fails')
    },
  })
  t.after(() => consumer.stop())
  const dead = await until('the dead letter', async () => {
    const entries = (await redis.xrange(deadLetterStreamKey(prefix, 'g'), '-', '+')) as Array<[string, string[]]>
    return entries.length > 0 ? entries : undefined
  })
  assert.equal(attempts, 3)
  assert.equal(JSON.parse(String(dead[0]?.[1][7])).id, poison.id)
  assert.equal(await pendingCount(prefix, 'g'), 0)
})
