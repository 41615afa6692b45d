import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { Agent } from 'undici'
import { createInternalClient, InternalCallError, type InternalClientOptions } from '../src/index.ts'
import { buildApp, connectRedis, deleteKeys, SECRET_A1, SECRET_A2, SERVICE_A, uniquePrefix } from './helpers.ts'

async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('internal client against a real Fastify app with the plugin', () => {
  let redis: Redis
  let prefix: string
  let app: FastifyInstance
  let baseUrl: string
  const agent = new Agent()
  const hits = { flaky: 0, postFlaky: 0, nonces: [] as string[] }

  before(async () => {
    redis = connectRedis()
    prefix = uniquePrefix()
    app = await buildApp({ redis, noncePrefix: prefix }, (server) => {
      const config = { internalAuth: { permission: 'sync-logs:read' } }
      server.get('/internal/flaky', { config }, async (request, reply) => {
        hits.flaky++
        hits.nonces.push(String(request.headers['x-internal-nonce']))
        if (hits.flaky === 1) return reply.status(503).send({ code: 'TRY_AGAIN_LATER', status: 503 })
        return { ok: true, attempt: hits.flaky, caller: request.internalCaller }
      })
      server.post('/internal/post-flaky', { config }, async (_request, reply) => {
        hits.postFlaky++
        return reply.status(503).send({ code: 'TRY_AGAIN_LATER', status: 503 })
      })
      server.post('/internal/echo', { config }, async (request) => ({ caller: request.internalCaller, body: request.body, query: request.query }))
      server.get('/internal/echo', { config }, async (request) => ({ caller: request.internalCaller, query: request.query }))
      server.get('/internal/slow', { config }, async () => {
        await new Promise((resolve) => setTimeout(resolve, 500))
        return { late: true }
      })
      server.delete('/internal/nothing', { config }, async (_request, reply) => reply.status(204).send())
    })
    baseUrl = await app.listen({ port: 0, host: '127.0.0.1' })
  })
  after(async () => {
    // Our own agent, destroyed first: undici may hold a spare socket open after an aborted call,
    // and the server's close would otherwise wait for its keep-alive timeout.
    await agent.destroy()
    await app.close()
    await deleteKeys(redis, prefix)
    await redis.quit()
  })

  function client(over: Partial<InternalClientOptions> = {}) {
    return createInternalClient({ service: SERVICE_A, keyId: 'k1', secret: SECRET_A1, baseUrl, retryBaseDelayMs: 5, dispatcher: agent, ...over })
  }

  test('retries a GET on 503, signing each attempt afresh, then succeeds', async () => {
    hits.flaky = 0
    hits.nonces.length = 0
    const result = await client().request<{ ok: boolean; attempt: number; caller: unknown }>({ method: 'GET', path: '/internal/flaky' })
    assert.deepEqual(result, { ok: true, attempt: 2, caller: { service: SERVICE_A, keyId: 'k1' } })
    assert.equal(hits.flaky, 2)
    assert.notEqual(hits.nonces[0], hits.nonces[1], 'a new nonce per attempt, or the retry would be a replay')
  })

  test('does not retry a POST on 503 and throws a typed error carrying the problem code', async () => {
    hits.postFlaky = 0
    const error = await client()
      .request({ method: 'POST', path: '/internal/post-flaky', body: { a: 1 } })
      .then(
        () => assert.fail('expected a failure'),
        (err: unknown) => err,
      )
    assert.ok(error instanceof InternalCallError)
    assert.deepEqual([error.status, error.code, error.attempts, error.method], [503, 'TRY_AGAIN_LATER', 1, 'POST'])
    assert.equal(hits.postFlaky, 1)
  })

  test('signs exactly the body bytes it sends (multi-byte JSON passes the plugin and arrives parsed)', async () => {
    const body = { note: 'café ☕ 東京', n: [1, 2, 3], nested: { ok: true } }
    const result = await client().request<{ caller: unknown; body: unknown; query: unknown }>({
      method: 'POST',
      path: '/internal/echo',
      query: { cursor: 'a b&c', limit: 10, skip: undefined },
      body,
    })
    assert.deepEqual(result, { caller: { service: SERVICE_A, keyId: 'k1' }, body, query: { cursor: 'a b&c', limit: '10' } })
  })

  test('signs with whichever key it is given (k2 during a rotation)', async () => {
    const result = await client({ keyId: 'k2', secret: SECRET_A2 }).request<{ caller: unknown }>({ method: 'GET', path: '/internal/echo', query: { tags: ['x', 'y'] } })
    assert.deepEqual(result, { caller: { service: SERVICE_A, keyId: 'k2' }, query: { tags: ['x', 'y'] } })
  })

  test('a refused call surfaces status and code, and never the secret or signature', async () => {
    const error = await client({ secret: 'wrong-secret-0123456789' })
      .request({ method: 'GET', path: '/internal/echo' })
      .then(
        () => assert.fail('expected a failure'),
        (err: unknown) => err,
      )
    assert.ok(error instanceof InternalCallError)
    assert.deepEqual([error.status, error.code, error.attempts], [401, 'INTERNAL_AUTH_BAD_SIGNATURE', 1], '401 is not retried')
    const dump = `${error.message} ${JSON.stringify(error)} ${String(error.stack)}`
    assert.ok(!dump.includes('wrong-secret-0123456789'))
    assert.ok(!dump.includes('v1='))
  })

  test('a 204 answer resolves to undefined', async () => {
    assert.equal(await client().request({ method: 'DELETE', path: '/internal/nothing' }), undefined)
  })

  test('network errors are retried for GET and reported as INTERNAL_CALL_NETWORK_ERROR after the last attempt', async () => {
    const port = await closedPort()
    const error = await client({ baseUrl: `http://127.0.0.1:${port}`, retries: 2 })
      .request({ method: 'GET', path: '/internal/echo' })
      .then(
        () => assert.fail('expected a failure'),
        (err: unknown) => err,
      )
    assert.ok(error instanceof InternalCallError)
    assert.deepEqual([error.status, error.code, error.attempts], [null, 'INTERNAL_CALL_NETWORK_ERROR', 3])
  })

  test('a slow answer times out as INTERNAL_CALL_TIMEOUT', async () => {
    const error = await client({ timeoutMs: 100, retries: 0 })
      .request({ method: 'GET', path: '/internal/slow' })
      .then(
        () => assert.fail('expected a failure'),
        (err: unknown) => err,
      )
    assert.ok(error instanceof InternalCallError)
    assert.deepEqual([error.status, error.code], [null, 'INTERNAL_CALL_TIMEOUT'])
  })

  test("the caller's AbortSignal stops the call without retries", async () => {
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 50)
    const error = await client()
      .request({ method: 'GET', path: '/internal/slow', signal: controller.signal })
      .then(
        () => assert.fail('expected a failure'),
        (err: unknown) => err,
      )
    assert.ok(error instanceof InternalCallError)
    assert.deepEqual([error.code, error.attempts], ['INTERNAL_CALL_ABORTED', 1])
  })

  test('a path that is not an encoded absolute path is refused before sending', async () => {
    await assert.rejects(client().request({ method: 'GET', path: 'internal/echo' }), { code: 'INTERNAL_CALL_INVALID_PATH' })
    await assert.rejects(client().request({ method: 'GET', path: '/internal/a b' }), { code: 'INTERNAL_CALL_INVALID_PATH' })
  })
})
