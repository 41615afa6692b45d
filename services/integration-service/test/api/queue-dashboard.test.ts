import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { bearer, testToken } from '@hub/service-kit/testing'
import { setupRig } from '../connections/rig.ts'

const rig = await setupRig()
const tenant = randomUUID()
const operator = bearer(testToken({ tenantId: tenant, roles: ['admin'], sub: 'board-operator' }))

test('the queue dashboard is read-only: its pause, resume, clean, retry and remove calls are refused and change nothing', async () => {
  const app = await rig.build({ OPERATOR_TENANT_IDS: tenant })
  const base = '/api/v1/integrations/admin/queues/api/queues'
  const queues = await app.inject({ url: `${base}?activeQueue=integration-low`, headers: operator })
  assert.equal(queues.statusCode, 200, queues.body)
  for (const [method, url] of [
    ['PUT', `${base}/pause`],
    ['PUT', `${base}/integration-low/pause`],
    ['PUT', `${base}/integration-low/resume`],
    ['PUT', `${base}/integration-low/clean/completed`],
    ['PUT', `${base}/resume`],
    ['PUT', `${base}/integration-low/retry/failed`],
    ['PUT', `${base}/integration-low/1/retry`],
    ['PUT', `${base}/integration-low/1/clean`],
    ['PUT', `${base}/integration-low/empty`],
    ['PUT', `${base}/integration-low/promote`],
  ] as const) {
    const response = await app.inject({ method, url, headers: operator, payload: {} })
    assert.equal(response.statusCode, 405, `${method} ${url}: ${response.body}`)
    assert.equal(response.json().code, 'QUEUE_DASHBOARD_READ_ONLY')
  }
  const counts = await app.inject({ url: '/api/v1/integrations/admin/queue-counts', headers: operator })
  assert.ok(
    counts.json().queues.every((queue: { paused: boolean }) => !queue.paused),
    'no queue was paused',
  )
})
