import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { createFastify, type ServiceInstance } from '@hub/service-kit'
import { TEST_INTERNAL_KEYS, bearer, createFakeIntegrationService, createTestDatabase, deleteRedisPrefix, testRedisPrefix, testToken, testServiceEnv, scrapeMetrics } from '@hub/service-kit/testing'
import { signRequest } from '@hub/internal-auth'
import complianceService from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { COMPLIANCE_SCHEMA } from '../src/db/schema.ts'

const db = await createTestDatabase([COMPLIANCE_SCHEMA])
const prefix = testRedisPrefix()
const common = {
  ...testServiceEnv(prefix),
}
// One integration-service for the file, as one real one would be: compliance-service keeps its
// feed cursor in this database across tests. A fake, serving the sync-log contract of
// @hub/contracts; the real services' copy across processes is proven in e2e/.
const integration = await createFakeIntegrationService({ redisPrefix: prefix })
await integration.start()
const apps: ServiceInstance[] = []
test.after(async () => {
  await Promise.all(apps.map((app) => app.close().catch(() => undefined)))
  await integration.stop()
  await db.drop()
  await deleteRedisPrefix(prefix)
})

async function startCompliance(integrationUrl: string, extra: Record<string, string> = {}): Promise<ServiceInstance> {
  const app = createFastify({ service: 'compliance-service', logLevel: process.env.TEST_LOG_LEVEL ?? 'silent' })
  await app.register(complianceService, {
    config: loadConfig({ ...common, DATABASE_URL: db.urlFor(COMPLIANCE_SCHEMA.appRole), INTEGRATION_SERVICE_URL: integrationUrl, SYNC_LOG_POLL_MS: '100', SYNC_LOG_CONSUMER: 'false', ...extra }),
  })
  await app.ready()
  apps.push(app)
  return app
}

const insertRun = async (tenantId: string, venueId: string) => integration.recordRun({ tenantId, venueId })

async function stored(venueId: string) {
  return db.adminQuery<{ id: string; status: string; times_seen: number; records_created: number }>('select id, status, times_seen, records_created from compliance.sync_logs where venue_id = $1 order by source_created_at, id', [venueId])
}

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let value = await read()
  while (!done(value) && Date.now() < deadline) {
    await sleep(100)
    value = await read()
  }
  return value
}

test('runs created, then updated, then created again while the consumer is stopped are each stored once with their latest state', async () => {
  const compliance = await startCompliance(integration.url)
  const tenant = randomUUID()
  const venue = randomUUID()
  const first = [await insertRun(tenant, venue), await insertRun(tenant, venue), await insertRun(tenant, venue)]
  // The feed holds rows back while older transactions (other test files) are open: pull until seen.
  const pullUntil = async <T>(read: () => Promise<T>, done: (value: T) => boolean) =>
    eventually(async () => {
      await compliance.syncLogConsumer.pullOnce()
      return read()
    }, done)
  assert.deepEqual(
    (
      await pullUntil(
        () => stored(venue),
        (rows) => rows.length === 3,
      )
    ).map((r) => r.id),
    first.map((r) => r.id),
  )

  integration.changeRun(first[1]!.id, { status: 'running', startedAt: new Date().toISOString() })
  integration.changeRun(first[1]!.id, { status: 'succeeded', finishedAt: new Date().toISOString(), counts: { fetched: 40, created: 40 } })
  const afterUpdate = await pullUntil(
    () => stored(venue),
    (rows) => rows.some((r) => r.status === 'succeeded'),
  )
  assert.equal(afterUpdate.length, 3)
  assert.deepEqual(
    afterUpdate.find((r) => r.id === first[1]!.id),
    { id: first[1]!.id, status: 'succeeded', times_seen: 2, records_created: 40 },
  )

  // The loop runs, is stopped, runs are created and changed meanwhile, then it starts again.
  compliance.syncLogConsumer.start()
  await compliance.syncLogConsumer.stop()
  const whileStopped = [await insertRun(tenant, venue), await insertRun(tenant, venue)]
  integration.changeRun(whileStopped[0]!.id, { status: 'failed', errorCode: 'PROVIDER_AUTH', errorMessage: 'token revoked' })
  compliance.syncLogConsumer.start()
  const final = await eventually(
    () => stored(venue),
    (rows) => rows.length === 5 && rows.some((r) => r.status === 'failed'),
  )
  await compliance.syncLogConsumer.stop()
  assert.equal(final.length, 5)
  assert.equal(new Set(final.map((r) => r.id)).size, 5, 'each run exactly once')
  assert.equal(final.find((r) => r.id === whileStopped[0]!.id)?.status, 'failed')
  // Pulling again changes nothing.
  assert.equal(await compliance.syncLogConsumer.pullOnce(), 0)
})

test('backs off while integration-service is down and catches up when it returns', async () => {
  const compliance = await startCompliance(integration.url)
  await compliance.syncLogConsumer.pullOnce()
  await integration.stop()
  const tenant = randomUUID()
  const venue = randomUUID()
  const runs = [await insertRun(tenant, venue), await insertRun(tenant, venue)]
  compliance.syncLogConsumer.start()
  const failing = await eventually(
    () => db.adminQuery<{ last_error: string | null }>("select last_error from compliance.consumer_cursors where consumer = 'integration-sync-logs'"),
    (rows) => Boolean(rows[0]?.last_error),
  )
  assert.ok(failing[0]?.last_error, 'the outage is recorded')
  assert.equal((await stored(venue)).length, 0)
  const metrics = { body: await scrapeMetrics(compliance) }
  assert.match(metrics.body, /compliance_sync_log_consumer_failures_total\{[^}]*\} [1-9]/)
  assert.match(metrics.body, /compliance_sync_log_consumer_lag_seconds/)
  await integration.start()
  const caughtUp = await eventually(
    () => stored(venue),
    (rows) => rows.length === 2,
    40_000,
  )
  await compliance.syncLogConsumer.stop()
  assert.deepEqual(
    caughtUp.map((r) => r.id),
    runs.map((r) => r.id),
  )
})

test('a replica that does not run the consumer reports no sync-log lag, however long it has been up', async (t) => {
  const compliance = await startCompliance('http://127.0.0.1:9')
  const gauge = compliance.metrics.registry.getSingleMetric('compliance_sync_log_consumer_lag_seconds')
  assert.ok(gauge)
  // An hour later, for the gauge's collect() only: it runs synchronously inside get(), and the
  // clock is real again before anything else (other apps' timers) can read it.
  t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
  t.mock.timers.tick(3_600_000)
  const reading = gauge.get()
  t.mock.timers.reset()
  assert.deepEqual(
    (await reading).values.map((sample) => sample.value),
    [0],
  )
})

test("tenant A's auditor never sees tenant B's runs; reports come as JSON or CSV", async () => {
  const compliance = await startCompliance(integration.url)
  const [tenantA, tenantB] = [randomUUID(), randomUUID()]
  const [venueA, venueB] = [randomUUID(), randomUUID()]
  const ok = await insertRun(tenantA, venueA)
  integration.changeRun(ok.id, { status: 'succeeded', startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), counts: { fetched: 12, created: 10, updated: 2 } })
  const bad = await insertRun(tenantA, venueA)
  integration.changeRun(bad.id, { status: 'failed', finishedAt: new Date().toISOString(), errorCode: 'RATE_LIMITED', errorMessage: '=HYPERLINK("x") too many, "quoted"' })
  const runB = await insertRun(tenantB, venueB)
  const pulled = async (venue: string) => {
    await compliance.syncLogConsumer.pullOnce()
    return stored(venue)
  }
  await eventually(
    () => pulled(venueB),
    (rows) => rows.some((r) => r.id === runB.id),
  )
  await eventually(
    () => pulled(venueA),
    (rows) => rows.some((r) => r.status === 'failed'),
  )

  const auditorA = bearer(testToken({ tenantId: tenantA, roles: ['viewer'] }))
  const auditorB = bearer(testToken({ tenantId: tenantB, roles: ['viewer'] }))
  const listA = await compliance.inject({ url: `/api/v1/compliance/venues/${venueA}/sync-logs`, headers: auditorA })
  assert.equal(listA.statusCode, 200, listA.body)
  assert.deepEqual(
    listA
      .json()
      .data.map((r: { id: string }) => r.id)
      .sort(),
    [ok.id, bad.id].sort(),
  )
  const crossed = await compliance.inject({ url: `/api/v1/compliance/venues/${venueA}/sync-logs`, headers: auditorB })
  assert.equal(crossed.statusCode, 404, 'another tenant sees no such venue')
  assert.equal(crossed.json().code, 'VENUE_NOT_FOUND')
  const unknown = randomUUID()
  assert.equal((await compliance.inject({ url: `/api/v1/compliance/venues/${unknown}/sync-logs`, headers: auditorA })).statusCode, 404, 'an unknown venue is a 404, not an empty list')
  const unknownReport = await compliance.inject({ url: `/api/v1/compliance/venues/${unknown}/report?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z`, headers: auditorA })
  assert.equal(unknownReport.statusCode, 404, 'an unknown venue is a 404, not a report of zeros')
  assert.equal(unknownReport.json().code, 'VENUE_NOT_FOUND')
  const filtered = await compliance.inject({ url: `/api/v1/compliance/venues/${venueA}/sync-logs?status=failed`, headers: auditorA })
  assert.deepEqual(
    filtered.json().data.map((r: { id: string }) => r.id),
    [bad.id],
  )
  const paged = await compliance.inject({ url: `/api/v1/compliance/venues/${venueA}/sync-logs?limit=1`, headers: auditorA })
  const next = await compliance.inject({ url: `/api/v1/compliance/venues/${venueA}/sync-logs?limit=1&cursor=${paged.json().nextCursor}`, headers: auditorA })
  assert.notEqual(paged.json().data[0].id, next.json().data[0].id)

  const from = new Date(Date.now() - 3600_000).toISOString()
  const to = new Date(Date.now() + 3600_000).toISOString()
  const report = await compliance.inject({ url: `/api/v1/compliance/venues/${venueA}/report?from=${from}&to=${to}`, headers: auditorA })
  assert.equal(report.statusCode, 200, report.body)
  const json = report.json()
  assert.equal(json.totalRuns, 2)
  assert.deepEqual(json.runsByProvider.square.byStatus, { succeeded: 1, failed: 1 })
  assert.deepEqual(json.recordsMoved.square, { fetched: 12, created: 10, updated: 2, unchanged: 0, deleted: 0, failed: 0 })
  assert.equal(json.failures[0].errorCode, 'RATE_LIMITED')
  assert.ok(json.lastSuccessByProvider.square)
  const csv = await compliance.inject({ url: `/api/v1/compliance/venues/${venueA}/report?from=${from}&to=${to}`, headers: { ...auditorA, accept: 'text/csv' } })
  assert.match(String(csv.headers['content-type']), /text\/csv/)
  const lines = csv.body.trim().split('\r\n')
  assert.equal(lines.length, 3)
  assert.match(lines[0]!, /^sync_log_id,provider,entity/)
  assert.ok(csv.body.includes(`"'=HYPERLINK(""x"") too many, ""quoted"""`), 'formula defused and quotes escaped')
  const otherTenantReport = await compliance.inject({ url: `/api/v1/compliance/venues/${venueA}/report?from=${from}&to=${to}`, headers: auditorB })
  assert.equal(otherTenantReport.statusCode, 404)
  const badPeriod = await compliance.inject({ url: `/api/v1/compliance/venues/${venueA}/report?from=${to}&to=${from}`, headers: auditorA })
  assert.equal(badPeriod.statusCode, 400)
  const scoped = bearer(testToken({ tenantId: tenantA, roles: ['viewer'], venueIds: [randomUUID()] }))
  assert.equal((await compliance.inject({ url: `/api/v1/compliance/venues/${venueA}/sync-logs`, headers: scoped })).statusCode, 404)
})

test('the venue report counts every run of the period however many there are, lists failures up to a bound and says when there are more, in JSON and CSV', async () => {
  const compliance = await startCompliance('http://127.0.0.1:9')
  const tenant = randomUUID()
  const venue = randomUUID()
  const seed = (venueId: string, runs: number, failed: string) =>
    db.adminQuery(
      `insert into compliance.sync_logs (id, tenant_id, venue_id, connection_id, provider, entity, mode, trigger, queue, status, records_fetched, records_created, records_updated, records_unchanged, records_deleted, records_failed, error_code, source_created_at, source_updated_at, finished_at)
       select gen_random_uuid(), $1, $2, $3, 'stripe', 'customers', 'full', 'manual', 'integration-normal', case when ${failed} then 'failed' else 'succeeded' end, 2, 1, 1, 0, 0, 0,
              case when ${failed} then 'RATE_LIMITED' end, timestamptz '2026-01-01' + g * interval '1 second', timestamptz '2026-01-01' + g * interval '1 second', timestamptz '2026-01-01' + g * interval '1 second'
         from generate_series(1, ${runs}) g`,
      [tenant, venueId, randomUUID()],
    )
  // The audit's reproduction: 50,005 runs, only the last one failed.
  await seed(venue, 50_005, 'g = 50005')
  const period = 'from=2025-01-01T00:00:00Z&to=2027-01-01T00:00:00Z'
  const headers = bearer(testToken({ tenantId: tenant, roles: ['viewer'] }))
  const res = await compliance.inject({ url: `/api/v1/compliance/venues/${venue}/report?${period}`, headers })
  assert.equal(res.statusCode, 200, res.body.slice(0, 500))
  const report = res.json()
  assert.equal(report.totalRuns, 50_005)
  assert.deepEqual(report.runsByProvider, { stripe: { total: 50_005, byStatus: { succeeded: 50_004, failed: 1 } } })
  assert.deepEqual(report.recordsMoved.stripe, { fetched: 100_010, created: 50_005, updated: 50_005, unchanged: 0, deleted: 0, failed: 0 })
  assert.deepEqual([report.totalFailures, report.failuresTruncated, report.failures.length, report.failures[0]?.errorCode], [1, false, 1, 'RATE_LIMITED'])
  assert.equal(report.failures[0]?.finishedAt, new Date(Date.parse('2026-01-01T00:00:00Z') + 50_005_000).toISOString())
  assert.equal(report.lastSuccessByProvider.stripe, new Date(Date.parse('2026-01-01T00:00:00Z') + 50_004_000).toISOString())
  const csv = await compliance.inject({ url: `/api/v1/compliance/venues/${venue}/report?${period}`, headers: { ...headers, accept: 'text/csv' } })
  assert.equal(csv.statusCode, 200)
  assert.match(String(csv.headers['content-type']), /text\/csv/)
  const lines = csv.body.trim().split('\r\n')
  assert.equal(lines.length, 1 + 50_005, 'a header and every run')
  assert.match(lines.at(-1) ?? '', /,failed,.*,RATE_LIMITED,$/)

  const failing = randomUUID()
  await seed(failing, 1_005, 'true')
  const many = (await compliance.inject({ url: `/api/v1/compliance/venues/${failing}/report?${period}`, headers })).json()
  assert.deepEqual([many.totalRuns, many.totalFailures, many.failuresTruncated, many.failures.length], [1_005, 1_005, true, 1_000])
  assert.equal(many.failures[0].finishedAt, '2026-01-01T00:00:01.000Z', 'the first failures of the period, oldest first')
})

test('security events: intake is idempotent, and refused internal calls leave one', async () => {
  const compliance = await startCompliance('http://127.0.0.1:9')
  const tenant = randomUUID()
  const event = { id: randomUUID(), type: 'AUTH_FAILURE', severity: 'medium', source: 'venue-service', code: 'AUTH_TOKEN_INVALID', tenantId: tenant, occurredAt: new Date().toISOString() }
  const body = JSON.stringify({ events: [event] })
  const post = () =>
    compliance.inject({
      method: 'POST',
      url: '/internal/security-events',
      payload: body,
      headers: {
        'content-type': 'application/json',
        ...(signRequest({ service: 'venue-service', keyId: 'k1', secret: TEST_INTERNAL_KEYS['venue-service'].k1, method: 'POST', pathWithQuery: '/internal/security-events', body }) as unknown as Record<string, string>),
      },
    })
  assert.deepEqual((await post()).json(), { accepted: 1, duplicates: 0 })
  assert.deepEqual((await post()).json(), { accepted: 0, duplicates: 1 })
  const admin = bearer(testToken({ tenantId: tenant, roles: ['admin'] }))
  const list = await compliance.inject({ url: '/api/v1/compliance/security-events', headers: admin })
  assert.deepEqual(
    list.json().data.map((e: { id: string }) => e.id),
    [event.id],
  )
  const resolved = await compliance.inject({ method: 'POST', url: `/api/v1/compliance/security-events/${event.id}/resolve`, headers: admin, payload: { note: 'expected: key rotation' } })
  assert.equal(resolved.statusCode, 200, resolved.body)
  assert.ok(resolved.json().resolvedAt)
  const audited = await compliance.inject({ url: `/api/v1/compliance/audit-log?entityId=${event.id}`, headers: admin })
  assert.deepEqual(
    audited.json().data.map((entry: { action: string; source: string; after: { resolutionNote: string } }) => [entry.action, entry.source, entry.after.resolutionNote]),
    [['security_event.resolved', 'compliance-service', 'expected: key rotation']],
    'the resolution is in the audit log',
  )
  const again = await compliance.inject({ method: 'POST', url: `/api/v1/compliance/security-events/${event.id}/resolve`, headers: admin, payload: {} })
  assert.equal(again.statusCode, 409, "as the OpenAPI document says: a conflict with the event's state")
  assert.equal(again.json().code, 'SECURITY_EVENT_ALREADY_RESOLVED')
  assert.equal((await compliance.inject({ url: `/api/v1/compliance/audit-log?entityId=${event.id}`, headers: admin })).json().data.length, 1, 'a refused second resolution is not audited')
  const otherAdmin = bearer(testToken({ tenantId: randomUUID(), roles: ['admin'] }))
  assert.equal((await compliance.inject({ method: 'POST', url: `/api/v1/compliance/security-events/${event.id}/resolve`, headers: otherAdmin, payload: {} })).statusCode, 404)

  // A forged call to compliance itself is stored directly.
  const forged = await compliance.inject({
    method: 'POST',
    url: '/internal/security-events',
    payload: body,
    headers: {
      'content-type': 'application/json',
      'x-internal-service': 'venue-service',
      'x-internal-key-id': 'k1',
      'x-internal-timestamp': String(Math.floor(Date.now() / 1000)),
      'x-internal-nonce': randomUUID().replaceAll('-', ''),
      'x-internal-signature': `v1=${'0'.repeat(64)}`,
    },
  })
  assert.equal(forged.statusCode, 401)
  const own = await eventually(
    () => db.adminQuery<{ code: string; source: string }>("select code, source from compliance.security_events where code = 'INTERNAL_AUTH_BAD_SIGNATURE' and source = 'compliance-service'"),
    (rows) => rows.length > 0,
  )
  assert.equal(own.length, 1)
})
