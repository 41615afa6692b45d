// keepConsuming while Redis is down: the consumer fails to start, is retried with backoff, and
// starts once Redis answers (then handles what was published meanwhile); stop() while Redis is
// still down returns and leaves no connection behind. Redis "goes down" behind a local TCP proxy
// that drops every connection until it is switched on.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createServer, connect, type AddressInfo, type Socket } from 'node:net'
import { after, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import type { HubEvent } from '@hub/contracts'
import { hubEventStreamKey, keepConsuming } from '../src/index.ts'

const REDIS_URL = new URL(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379')
const redis = new Redis(REDIS_URL.toString())
const prefix = `test:keep:${randomUUID().slice(0, 8)}:`
after(async () => {
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length > 0) await redis.del(...keys)
  await redis.quit()
})

/** A proxy to the real Redis that refuses service (closes every connection) until `up`. */
async function startProxy() {
  let up = false
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    sockets.add(client)
    client.on('close', () => sockets.delete(client))
    if (!up) {
      client.destroy()
      return
    }
    const upstream = connect(Number(REDIS_URL.port || 6379), REDIS_URL.hostname)
    sockets.add(upstream)
    upstream.on('close', () => sockets.delete(upstream))
    client.pipe(upstream).pipe(client)
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  after(() => {
    for (const socket of sockets) socket.destroy()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return {
    port: (server.address() as AddressInfo).port,
    get connections() {
      return sockets.size
    },
    setUp(value: boolean) {
      up = value
    },
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

function syncEvent(): HubEvent {
  return {
    id: randomUUID(),
    type: 'integration.sync.started',
    version: 1,
    tenantId: randomUUID(),
    venueId: randomUUID(),
    connectionId: randomUUID(),
    sequence: 1,
    occurredAt: new Date().toISOString(),
    data: { syncLogId: randomUUID(), provider: 'stripe', entity: 'customer', kind: 'pull', mode: 'full', trigger: 'manual', startedAt: new Date().toISOString() },
  }
}

const quietLogger = (warnings: string[]) => ({ info: () => undefined, error: () => undefined, warn: (_obj: object, msg?: string) => void warnings.push(msg ?? '') })

test('a consumer started while Redis is down keeps retrying, starts when Redis answers, and handles what was published meanwhile', async () => {
  const proxy = await startProxy()
  const client = new Redis({ host: '127.0.0.1', port: proxy.port, maxRetriesPerRequest: 1, retryStrategy: () => 50, lazyConnect: true }).on('error', () => undefined)
  after(() => client.disconnect())
  const warnings: string[] = []
  const handled: HubEvent[] = []
  const kept = keepConsuming({
    redis: client,
    keyPrefix: prefix,
    families: ['sync'],
    group: 'keep-test',
    consumer: 'keep-1',
    blockMs: 200,
    retryBaseMs: 50,
    retryMaxMs: 200,
    logger: quietLogger(warnings),
    handle: async (event) => void handled.push(event),
  })
  await until('failed starts', () => warnings.length >= 2)
  assert.equal(kept.running, false)

  const event = syncEvent()
  await redis.xadd(hubEventStreamKey(prefix, 'sync'), '1-0', 'event', JSON.stringify(event))
  proxy.setUp(true)
  await until('the consumer running', () => kept.running)
  const [got] = await until('the event handled', () => (handled.length > 0 ? handled : undefined))
  assert.equal(got?.id, event.id)
  await kept.stop()
})

test('stop() while Redis is still down returns, ends the retries and closes the connection it was trying', async () => {
  const proxy = await startProxy()
  const client = new Redis({ host: '127.0.0.1', port: proxy.port, maxRetriesPerRequest: 1, retryStrategy: () => 50, lazyConnect: true }).on('error', () => undefined)
  after(() => client.disconnect())
  const warnings: string[] = []
  const kept = keepConsuming({
    redis: client,
    keyPrefix: prefix,
    families: ['sync'],
    group: 'keep-test-2',
    consumer: 'keep-2',
    retryBaseMs: 50,
    retryMaxMs: 200,
    logger: quietLogger(warnings),
    handle: async () => undefined,
  })
  await until('failed starts', () => warnings.length >= 2)
  await kept.stop()
  const seen = warnings.length
  proxy.setUp(true)
  // The connection it was trying is closed, and no further attempt is logged once Redis is back.
  await until('the proxy idle', () => proxy.connections === 0)
  assert.equal(kept.running, false)
  assert.equal(warnings.length, seen)
})
