// The start-up check of Redis's eviction policy: the real Redis (noeviction) passes; a Redis that
// evicts is refused in production and warned about elsewhere; one that refuses CONFIG (a managed
// Redis) is warned about. The last two are a few bytes of RESP on a local socket, standing in for
// servers this machine does not run.
import assert from 'node:assert/strict'
import { createServer, type Server, type Socket } from 'node:net'
import { after, test } from 'node:test'
import { Redis } from 'ioredis'
import { checkEvictionPolicy } from '../src/plugins/redis.ts'
import { TEST_REDIS_URL } from '../src/testing/index.ts'

/** Answers CONFIG with `reply` (raw RESP). */
async function respServer(reply: string): Promise<string> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    // One answer per command: CONFIG gets `reply`, ioredis's CLIENT SETINFO greetings an OK.
    socket.on('data', (chunk: Buffer) => {
      for (const command of String(chunk).split(/(?=\*\d+\r\n\$)/)) socket.write(/CONFIG/i.test(command) ? reply : '+OK\r\n')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  after(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  return `redis://127.0.0.1:${(server.address() as { port: number }).port}`
}

function recorder() {
  const warnings: string[] = []
  return { warnings, log: { warn: (_obj: object, msg: string) => void warnings.push(msg) } }
}

async function client(url: string): Promise<Redis> {
  const redis = new Redis(url, { enableReadyCheck: false, maxRetriesPerRequest: 0, lazyConnect: true })
  after(() => redis.disconnect())
  await redis.connect()
  return redis
}

test('the real Redis with noeviction passes quietly', async () => {
  const { warnings, log } = recorder()
  await checkEvictionPolicy(await client(TEST_REDIS_URL), log, true)
  assert.deepEqual(warnings, [])
})

test('an evicting Redis is refused in production and warned about elsewhere', async () => {
  const url = await respServer('*2\r\n$16\r\nmaxmemory-policy\r\n$11\r\nallkeys-lru\r\n')
  await assert.rejects(checkEvictionPolicy(await client(url), recorder().log, true), /maxmemory-policy is allkeys-lru/)
  const { warnings, log } = recorder()
  await checkEvictionPolicy(await client(url), log, false)
  assert.match(warnings.join('\n'), /allkeys-lru.*noeviction/)
})

test('a Redis that refuses CONFIG is warned about, not refused', async () => {
  const url = await respServer("-ERR unknown command 'CONFIG'\r\n")
  const { warnings, log } = recorder()
  await checkEvictionPolicy(await client(url), log, true)
  assert.match(warnings.join('\n'), /CONFIG may be disabled/)
})
