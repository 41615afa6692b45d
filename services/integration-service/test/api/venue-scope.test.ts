// Venue scope on object routes: a caller limited to venue B neither sees nor changes venue A's
// jobs, runs or records (404, as if they did not exist); the tenant alone is not the boundary.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { bearer, testToken } from '@hub/service-kit/testing'
import { setupIntegrationTests } from '../helpers.ts'
import { seedConnection } from '../webhooks/webhook-fixtures.ts'

const tests = await setupIntegrationTests()

test("sync jobs: a manager or viewer of venue B gets 404 for venue A's job and cannot cancel it; A's manager can", async () => {
  const app = await tests.build()
  const tenantId = randomUUID()
  const [venueA, venueB] = [randomUUID(), randomUUID()]
  const connection = await seedConnection(app, { provider: 'stripe', tenantId, venueId: venueA, accountId: 'acct_scope0001' })
  const { jobs } = await app.syncEngine.enqueueSync({ tenantId, venueId: venueA, connectionId: connection.id, entities: ['customer'], mode: 'full', trigger: 'manual', queue: 'high' })
  const jobId = jobs[0]?.jobId as string
  const as = (roles: Array<'admin' | 'manager' | 'viewer'>, venueIds?: string[]) => bearer(testToken({ tenantId, roles, ...(venueIds ? { venueIds } : {}) }))
  const managerB = as(['manager'], [venueB])
  const viewerB = as(['viewer'], [venueB])

  for (const headers of [managerB, viewerB]) {
    const read = await app.inject({ url: `/api/v1/integrations/sync/jobs/${jobId}`, headers })
    assert.deepEqual([read.statusCode, read.json().code], [404, 'JOB_NOT_FOUND'], read.body)
  }
  const cancel = await app.inject({ method: 'POST', url: `/api/v1/integrations/sync/jobs/${jobId}/cancel`, headers: managerB })
  assert.deepEqual([cancel.statusCode, cancel.json().code], [404, 'JOB_NOT_FOUND'], cancel.body)
  assert.equal((await app.syncEngine.getJob(tenantId, jobId)).state, 'waiting', 'the job is untouched')

  // Readers of venue A see it; a viewer of A still may not cancel it.
  assert.equal((await app.inject({ url: `/api/v1/integrations/sync/jobs/${jobId}`, headers: as(['viewer'], [venueA]) })).statusCode, 200)
  assert.equal((await app.inject({ url: `/api/v1/integrations/sync/jobs/${jobId}`, headers: as(['viewer']) })).statusCode, 200, 'a viewer without venue_ids reads the whole tenant')
  assert.equal((await app.inject({ method: 'POST', url: `/api/v1/integrations/sync/jobs/${jobId}/cancel`, headers: as(['viewer'], [venueA]) })).statusCode, 403)
  const own = await app.inject({ method: 'POST', url: `/api/v1/integrations/sync/jobs/${jobId}/cancel`, headers: as(['manager'], [venueA]) })
  assert.deepEqual([own.statusCode, own.json().state], [200, 'cancelled'], own.body)

  // Once the job is gone from the queue its run still answers, under the same rule.
  const run = await app.inject({ url: `/api/v1/integrations/sync/jobs/${jobId}`, headers: managerB })
  assert.equal(run.statusCode, 404)
  assert.equal((await app.inject({ url: `/api/v1/integrations/sync/jobs/${jobId}`, headers: as(['admin']) })).statusCode, 200)
})

test("webhook jobs belong to their connection's venue", async () => {
  const app = await tests.build()
  const tenantId = randomUUID()
  const [venueA, venueB] = [randomUUID(), randomUUID()]
  const connection = await seedConnection(app, { provider: 'stripe', tenantId, venueId: venueA })
  const [inbox] = await tests.db.adminQuery<{ id: string }>(
    `insert into integration.webhook_inbox (tenant_id, connection_id, provider, event_id, event_type, entity, external_id, payload) values ($1, $2, 'stripe', $3, 'customer.updated', 'customer', 'cus_1', '{}'::jsonb) returning id`,
    [tenantId, connection.id, `evt_${randomUUID()}`],
  )
  const jobId = await app.syncEngine.enqueueWebhook({ tenantId, connectionId: connection.id, inboxId: inbox?.id as string })
  const headers = (venueId: string) => bearer(testToken({ tenantId, roles: ['manager'], venueIds: [venueId] }))
  assert.equal((await app.inject({ url: `/api/v1/integrations/sync/jobs/${jobId}`, headers: headers(venueB) })).statusCode, 404)
  assert.equal((await app.inject({ url: `/api/v1/integrations/sync/jobs/${jobId}`, headers: headers(venueA) })).statusCode, 200)
})

test('runs, records and connections of venue A are invisible to a caller limited to venue B', async () => {
  const app = await tests.build()
  const tenantId = randomUUID()
  const [venueA, venueB] = [randomUUID(), randomUUID()]
  const connection = await seedConnection(app, { provider: 'stripe', tenantId, venueId: venueA })
  await app.syncEngine.enqueueSync({ tenantId, venueId: venueA, connectionId: connection.id, entities: ['customer'], mode: 'full', trigger: 'manual', queue: 'high' })
  const managerB = bearer(testToken({ tenantId, roles: ['manager'], venueIds: [venueB] }))
  const admin = bearer(testToken({ tenantId, roles: ['admin'] }))

  assert.equal((await app.inject({ url: `/api/v1/integrations/sync-logs?venueId=${venueA}`, headers: admin })).json().data.length, 1)
  for (const url of [
    `/api/v1/integrations/sync-logs?venueId=${venueA}`,
    `/api/v1/integrations/sync-logs?connectionId=${connection.id}`,
    '/api/v1/integrations/sync-logs',
    `/api/v1/integrations/records?venueId=${venueA}`,
    '/api/v1/integrations/connections',
  ]) {
    const response = await app.inject({ url, headers: managerB })
    assert.equal(response.statusCode, 200, url)
    assert.deepEqual(response.json().data, [], url)
  }
  for (const request of [
    { method: 'GET' as const, url: `/api/v1/integrations/connections/${connection.id}` },
    { method: 'PATCH' as const, url: `/api/v1/integrations/connections/${connection.id}`, payload: { credentials: { apiKey: 'sk_test_scope00000000000000000001' } } },
    { method: 'DELETE' as const, url: `/api/v1/integrations/connections/${connection.id}` },
    { method: 'POST' as const, url: `/api/v1/integrations/connections/${connection.id}/test` },
  ]) {
    const response = await app.inject({ ...request, headers: managerB })
    assert.deepEqual([response.statusCode, response.json().code], [404, 'CONNECTION_NOT_FOUND'], `${request.method} ${request.url}: ${response.body}`)
  }
  const sync = await app.inject({ method: 'POST', url: '/api/v1/integrations/sync/stripe/sync', headers: managerB, payload: { venueId: venueA } })
  assert.equal(sync.statusCode, 404, sync.body)
})
