import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { bearer, captureLogs, testToken } from '@hub/service-kit/testing'
import { setupGateway } from './helpers.ts'

const { build } = await setupGateway()

test('ten refused requests with 15 KB paths write a few KB of log, not 150 KB, and no header value unclipped', async () => {
  const capture = captureLogs('info')
  const gateway = await build({}, { loggerInstance: capture.logger })
  const path = `/api/v1/venues/${'x'.repeat(15_000)}`
  for (let i = 0; i < 10; i++) {
    const response = await gateway.inject({ url: path, headers: { 'x-request-id': 'r'.repeat(5_000) } })
    assert.equal(response.statusCode, 401)
  }
  const bytes = capture.lines.reduce((sum, line) => sum + line.length, 0)
  assert.ok(bytes < 20_000, `${bytes} bytes of log`)
  assert.ok(
    capture.lines.every((line) => line.length < 2_000),
    'every line is short',
  )
  assert.ok(
    capture.lines.some((line) => line.includes('"clientRequestId":"rrrr')),
    "the client's request id is kept, clipped",
  )
})

test('a caller over its rate limit is logged once per window, not once per refused request', async () => {
  const capture = captureLogs('info')
  // A generous Redis timeout: on a loaded box a slow answer would switch to the local fallback
  // store, which counts afresh (rate-limit-fallback.test.ts proves that switch).
  const gateway = await build({ RATE_LIMIT_USER_MAX: '2', RATE_LIMIT_REDIS_TIMEOUT_MS: '10000' }, { loggerInstance: capture.logger })
  const user = bearer(testToken({ tenantId: randomUUID(), roles: ['viewer'], sub: `flood-${randomUUID()}` }))
  const statuses: number[] = []
  for (let i = 0; i < 12; i++) statuses.push((await gateway.inject({ url: '/api/v1/venues', headers: user })).statusCode)
  assert.deepEqual(statuses, [200, 200, ...Array.from({ length: 10 }, () => 429)])
  const mentions429 = capture.lines.filter((line) => line.includes('"statusCode":429') || line.includes('"status":429') || line.includes('RATE_LIMIT'))
  assert.equal(capture.lines.filter((line) => line.includes('rate limit reached')).length, 1)
  assert.ok(mentions429.length <= 3, `the first refusal only (${mentions429.length} lines)`)
})
