// The real gateway process and SIGTERM: it first fails /ready, keeps serving for DRAIN_MS while
// asking every client to hang up (Connection: close), then closes and exits cleanly.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { Agent, get } from 'node:http'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { deleteRedisPrefix, freePort, testRedisPrefix, testServiceEnv } from '@hub/service-kit/testing'

const ROOT = join(import.meta.dirname, '..', '..', '..')
const agent = new Agent({ keepAlive: true })

function call(port: number, path: string): Promise<{ status: number; connection: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, agent }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (body += chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, connection: response.headers.connection, body }))
    }).on('error', reject)
  })
}

test('on SIGTERM the gateway fails /ready, keeps answering with Connection: close for DRAIN_MS, then exits 0', { timeout: 90_000 }, async () => {
  const prefix = testRedisPrefix()
  after(() => deleteRedisPrefix(prefix))
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'services', 'api-gateway', 'src', 'server.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...testServiceEnv(prefix),
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      API_GATEWAY_PORT: String(port),
      DRAIN_MS: '3000',
      VENUE_SERVICE_URL: 'http://127.0.0.1:9',
      INTEGRATION_SERVICE_URL: 'http://127.0.0.1:9',
      COMPLIANCE_SERVICE_URL: 'http://127.0.0.1:9',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const deadline = Date.now() + 60_000
  for (;;) {
    const ready = await call(port, '/ready').catch(() => null)
    if (ready?.status === 200) {
      assert.notEqual(ready.connection, 'close', 'keep-alive while serving normally')
      break
    }
    assert.ok(Date.now() < deadline, 'the gateway became ready')
    await sleep(100)
  }

  const signalled = Date.now()
  child.kill('SIGTERM')
  const exited = once(child, 'exit')
  // Draining: not ready any more, still answering, every answer closing its connection.
  let ready = await call(port, '/ready')
  while (ready.status === 200) ready = await call(port, '/ready')
  assert.equal(ready.status, 503)
  assert.equal(JSON.parse(ready.body).checks.shutdown.status, 'down')
  assert.equal(ready.connection, 'close')
  const health = await call(port, '/health')
  assert.deepEqual([health.status, health.connection], [200, 'close'], 'still serving while draining')
  assert.ok(Date.now() - signalled < 3_000, 'the drain was still going on')

  const [code] = (await exited) as [number | null]
  assert.equal(code, 0, 'a clean exit')
  assert.ok(Date.now() - signalled >= 3_000, `closed only after the drain (${Date.now() - signalled} ms)`)
  agent.destroy()
})
