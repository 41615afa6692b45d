// A rolling restart as Kubernetes does it, on real processes: two gateways behind a TCP balancer
// that stops opening new connections to a backend once its /ready fails, a steady keep-alive GET
// load through it, and SIGTERM to one gateway in the middle. Every request must get an HTTP
// answer (no reset, no socket error, no 5xx) and the signalled gateway must exit cleanly.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createServer as createHttpServer, get } from 'node:http'
import { connect, createServer as createTcpServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pool } from 'undici'
import { bearer, deleteRedisPrefix, freePort, testRedisPrefix, testServiceEnv, testToken } from '@hub/service-kit/testing'

const ROOT = join(import.meta.dirname, '..', '..', '..')
const DRAIN_MS = 2_000
const RATE = 100
const SECONDS = 6

/** Every upstream path answers 200 at once: the test is about the gateway's own sockets. */
async function tinyUpstream(): Promise<string> {
  const server = createHttpServer((request, response) => {
    request.resume()
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(request.url === '/openapi.json' ? JSON.stringify({ openapi: '3.1.0', info: { title: 'x', version: '1' }, paths: {} }) : '{"ok":true}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  after(() => {
    server.closeAllConnections()
    server.close()
  })
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`
}

function readyStatus(port: number): Promise<number> {
  return new Promise((resolve) => {
    const request = get({ host: '127.0.0.1', port, path: '/ready', agent: false, timeout: 1_000 }, (response) => {
      response.resume()
      resolve(response.statusCode ?? 0)
    })
    request.on('timeout', () => request.destroy())
    request.on('error', () => resolve(0))
  })
}

/**
 * A layer-4 balancer like a Service in front of pods: each new client connection goes, round
 * robin, to a backend whose last /ready poll (every 200 ms) was 200; an open connection stays
 * with its backend until either side closes it.
 */
async function balancer(backends: number[]): Promise<{ port: number; close: () => void; connectErrors: () => number; opened: (port: number) => number }> {
  const ready = new Map<number, boolean>(backends.map((port) => [port, false]))
  let stopped = false
  let connectErrors = 0
  const opened = new Map<number, number>(backends.map((port) => [port, 0]))
  void (async () => {
    while (!stopped) {
      await Promise.all(backends.map(async (port) => ready.set(port, (await readyStatus(port)) === 200)))
      await sleep(200)
    }
  })()
  let next = 0
  const sockets = new Set<Socket>()
  const server: Server = createTcpServer((client) => {
    const live = backends.filter((port) => ready.get(port))
    const port = live[next++ % Math.max(1, live.length)]
    if (port === undefined) return client.destroy()
    const backend = connect(port, '127.0.0.1')
    opened.set(port, (opened.get(port) ?? 0) + 1)
    sockets.add(client).add(backend)
    backend.on('error', () => {
      connectErrors++
      client.destroy()
    })
    client.on('error', () => backend.destroy())
    client.on('close', () => sockets.delete(client))
    backend.on('close', () => sockets.delete(backend))
    client.pipe(backend)
    backend.pipe(client)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const deadline = Date.now() + 120_000
  while (backends.some((port) => !ready.get(port))) {
    assert.ok(Date.now() < deadline, 'both gateways became ready')
    await sleep(100)
  }
  return {
    port: (server.address() as { port: number }).port,
    connectErrors: () => connectErrors,
    opened: (port: number) => opened.get(port) ?? 0,
    close: () => {
      stopped = true
      for (const socket of sockets) socket.destroy()
      server.close()
    },
  }
}

function startGateway(port: number, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'services', 'api-gateway', 'src', 'server.ts')], {
    cwd: ROOT,
    env: { ...process.env, ...env, API_GATEWAY_PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return child
}

test('SIGTERM to one of two gateways under steady keep-alive load: every idempotent request is answered, none fails, the gateway exits 0', { timeout: 240_000 }, async () => {
  const prefix = testRedisPrefix()
  after(() => deleteRedisPrefix(prefix))
  const upstream = await tinyUpstream()
  const env = {
    ...testServiceEnv(prefix),
    LOG_LEVEL: 'warn',
    DRAIN_MS: String(DRAIN_MS),
    VENUE_SERVICE_URL: upstream,
    INTEGRATION_SERVICE_URL: upstream,
    COMPLIANCE_SERVICE_URL: upstream,
    // One test user sends every request: the limit is not what is under test.
    RATE_LIMIT_USER_MAX: '100000',
  }
  const ports = [await freePort(), await freePort()]
  const [victim] = ports.map((port) => startGateway(port, env))
  assert.ok(victim)
  const lb = await balancer(ports)
  after(() => lb.close())

  const headers = bearer(testToken({ tenantId: randomUUID(), roles: ['admin'], sub: `drain-${randomUUID()}` }))
  const pool = new Pool(`http://127.0.0.1:${lb.port}`, { connections: 8, pipelining: 1 })
  after(() => pool.close())
  const outcomes: string[] = []
  const send = async (): Promise<void> => {
    try {
      const response = await pool.request({ method: 'GET', path: '/api/v1/integrations/connections', headers, headersTimeout: 30_000, bodyTimeout: 30_000 })
      await response.body.dump()
      outcomes.push(String(response.statusCode))
    } catch (error) {
      outcomes.push(`error ${(error as { code?: string }).code ?? (error as Error).message}`)
    }
  }

  // Open loop: requests go out on schedule whatever the answers are doing; SIGTERM a third in.
  const total = RATE * SECONDS
  const inFlight: Promise<void>[] = []
  const started = performance.now()
  let exited: Promise<unknown> | null = null
  for (let sent = 0; sent < total;) {
    const now = performance.now()
    for (; sent < total && started + (sent * 1000) / RATE <= now; sent++) inFlight.push(send())
    if (!exited && now - started >= (SECONDS * 1000) / 3) {
      exited = once(victim, 'exit')
      victim.kill('SIGTERM')
    }
    await sleep(2)
  }
  await Promise.all(inFlight)
  assert.ok(exited, 'the gateway was signalled during the load')
  const [code] = (await exited) as [number | null]

  const failures = outcomes.filter((outcome) => outcome !== '200')
  assert.equal(outcomes.length, total)
  assert.deepEqual(failures, [], `${failures.length} of ${total} requests did not get a 200`)
  assert.ok(lb.opened(ports[0] ?? 0) > 1, `the signalled gateway was carrying load (${lb.opened(ports[0] ?? 0)} connections)`)
  assert.equal(lb.connectErrors(), 0, 'the balancer never connected to a closed gateway')
  assert.equal(code, 0, 'the signalled gateway exited cleanly')
})
