// Data-subject requests in compliance-service, against a stand-in integration-service on a real
// port (the cross-process flow with the real one is e2e/subject-requests.test.ts): the API and its
// refusals, the export document, the erase of compliance-service's own rows, audit entries with
// masked values only, and the runner under at-least-once: a failed attempt is retried, a runner
// that died mid-request is taken over when its lease lapses, and a repeat keeps the first counts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import Fastify from 'fastify'
import type { SubjectEraseBody, SubjectSearchBody } from '@hub/contracts'
import { generateSigningKeyRingJson } from '@hub/crypto'
import { createFastify } from '@hub/service-kit'
import { bearer, createTestDatabase, deleteRedisPrefix, listenLocal, searchDatabase, testRedisPrefix, testServiceEnv, testToken } from '@hub/service-kit/testing'
import complianceService from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { COMPLIANCE_SCHEMA } from '../src/db/schema.ts'
import { createSubjectRequestRepository } from '../src/plugins/app/subject-requests/subject-request-repository.ts'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

// The stand-in: answers as integration-service would, counts calls, and fails when told to.
const calls = { search: [] as SubjectSearchBody[], erase: [] as SubjectEraseBody[] }
let failErases = 0
const erased = new Set<string>()
const integration = Fastify()
integration.post('/internal/subject-data/search', async (request) => {
  const body = request.body as SubjectSearchBody
  calls.search.push(body)
  const email = body.subject.emails[0] ?? 'nobody@example.test'
  const mine = !erased.has(body.tenantId)
  return {
    externalIds: ['cus_subject01'],
    counts: { records: mine ? 2 : 0, webhook_inbox: 0, dead_letters: 0, sync_logs: 0 },
    matches: mine
      ? [
          { table: 'records', key: { entity: 'customer', externalId: 'cus_subject01' }, ...(body.includeData ? { data: { data: { email }, raw: { id: 'cus_subject01', email } } } : {}) },
          { table: 'records', key: { entity: 'payment', externalId: 'py_1' }, ...(body.includeData ? { data: { data: { amount: 1200, customerExternalId: 'cus_subject01' } } } : {}) },
        ]
      : [],
  }
})
integration.post('/internal/subject-data/erase', async (request, reply) => {
  const body = request.body as SubjectEraseBody
  calls.erase.push(body)
  if (failErases > 0) {
    failErases--
    return reply.code(503).send({ type: 'about:blank', title: 'Unavailable', status: 503, code: 'SERVICE_UNAVAILABLE' })
  }
  const first = !erased.has(body.tenantId)
  erased.add(body.tenantId)
  return { redacted: { records: first ? 2 : 0, webhook_inbox: 0, dead_letters: 0, sync_logs: 0 }, tombstones: 2 }
})
const integrationUrl = await listenLocal(integration)

const db = await createTestDatabase([COMPLIANCE_SCHEMA])
const prefix = testRedisPrefix()
const app = createFastify({ service: 'compliance-service', logLevel: (process.env.TEST_LOG_LEVEL ?? 'silent') as 'silent' })
await app.register(complianceService, {
  config: loadConfig({
    ...testServiceEnv(prefix),
    DATABASE_URL: db.urlFor(COMPLIANCE_SCHEMA.appRole),
    INTEGRATION_SERVICE_URL: integrationUrl,
    SYNC_LOG_CONSUMER: 'false',
    AUDIT_DIGEST_INTERVAL_MS: '0',
    AUDIT_SIGNING_KEYS: generateSigningKeyRingJson([1]),
    // The test drives the runner itself (drain), with a short lease so a takeover is quick.
    SUBJECT_REQUEST_POLL_MS: '0',
    SUBJECT_REQUEST_LEASE_MS: '1000',
  }),
})
await app.ready()
test.after(async () => {
  await app.close()
  await integration.close()
  await db.drop()
  await deleteRedisPrefix(prefix)
})

const adminOf = (tenantId: string) => bearer(testToken({ tenantId, roles: ['admin'], sub: 'dpo-1' }))
const post = (tenantId: string, body: unknown, headers = adminOf(tenantId)) => app.inject({ method: 'POST', url: '/api/v1/compliance/subject-requests', headers, payload: body as Json })
const view = async (tenantId: string, id: string) => (await app.inject({ url: `/api/v1/compliance/subject-requests/${id}`, headers: adminOf(tenantId) })).json() as Json

/** Drains the runner until the request ends (a retried attempt waits for its lease to lapse). */
async function finished(tenantId: string, id: string): Promise<Json> {
  const deadline = Date.now() + 30_000
  for (;;) {
    await app.subjectRequestJob.drain()
    const current = await view(tenantId, id)
    if (current.status === 'succeeded' || current.status === 'failed') return current
    if (Date.now() > deadline) throw new Error(`request ${id} stayed ${String(current.status)}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** compliance-service's own rows about the person: a copied sync run and a security event. */
async function ownRowsMentioning(tenantId: string, email: string): Promise<void> {
  await db.adminQuery(
    `insert into compliance.sync_logs (id, tenant_id, venue_id, connection_id, provider, entity, mode, trigger, queue, status, records_fetched, records_created, records_updated, records_unchanged, records_deleted, records_failed, error_code, error_message, source_created_at, source_updated_at)
     values ($1, $2, $3, $4, 'stripe', 'customer', 'full', 'manual', 'integration-high', 'failed', 0, 0, 0, 0, 0, 1, 'PROVIDER_INVALID', $5, now(), now())`,
    [randomUUID(), tenantId, randomUUID(), randomUUID(), `Invalid email address: ${email}`],
  )
  await db.adminQuery(
    `insert into compliance.security_events (id, tenant_id, type, severity, source, code, details, occurred_at, first_seen_at, last_seen_at) values ($1, $2, 'SUSPICIOUS_ACCESS', 'low', 'integration-service', 'TEST', $3::jsonb, now(), now(), now())`,
    [randomUUID(), tenantId, JSON.stringify({ note: `lookup of ${email}` })],
  )
}

test('only an admin files a request, naming the person; the view and the audit log show masked values only', async () => {
  const tenantId = randomUUID()
  const email = `ada.${randomUUID().slice(0, 8)}@example.test`
  const manager = await post(tenantId, { type: 'export', email }, bearer(testToken({ tenantId, roles: ['manager'] })))
  assert.equal(manager.statusCode, 403)
  assert.equal(manager.json().code, 'INSUFFICIENT_ROLE')
  assert.equal((await post(tenantId, { type: 'export' })).json().code, 'SUBJECT_IDENTIFIER_REQUIRED')
  assert.equal((await post(tenantId, { type: 'export', email: 'not-an-email' })).statusCode, 400)
  assert.equal((await post(tenantId, { type: 'forget', email })).statusCode, 400)
  assert.equal((await post(tenantId, { type: 'export', email, extra: 1 })).statusCode, 400)

  const created = await post(tenantId, { type: 'export', email, externalIds: ['cus_subject01'] })
  assert.equal(created.statusCode, 202, created.body)
  const body = created.json() as Json
  assert.equal(body.status, 'queued')
  assert.deepEqual(body.subject, { emails: ['a***@***.test'], externalIds: ['cus_…01'] })
  assert.ok(!created.body.includes(email))
  const audit = await db.adminQuery<Json>('select action, after from compliance.audit_log where tenant_id = $1 and entity_id = $2', [tenantId, body.id])
  assert.deepEqual(
    audit.map((row) => row.action),
    ['subject_request.created'],
  )
  assert.ok(!JSON.stringify(audit).includes(email))
  assert.equal((await app.inject({ url: `/api/v1/compliance/subject-requests/${body.id as string}`, headers: adminOf(randomUUID()) })).json().code, 'SUBJECT_REQUEST_NOT_FOUND', 'another tenant does not see it')
  assert.equal((await app.inject({ url: `/api/v1/compliance/subject-requests/${body.id as string}/export`, headers: adminOf(tenantId) })).json().code, 'SUBJECT_EXPORT_NOT_READY')
  await finished(tenantId, body.id as string)
})

test('the list pages newest first with an opaque cursor, and refuses a forged one', async () => {
  const tenantId = randomUUID()
  const ids: string[] = []
  for (let i = 0; i < 3; i++) ids.push(((await post(tenantId, { type: 'export', externalIds: [`cus_list${i}`] })).json() as Json).id as string)
  const first = (await app.inject({ url: '/api/v1/compliance/subject-requests?limit=2', headers: adminOf(tenantId) })).json() as Json
  assert.deepEqual(
    first.data.map((row: Json) => row.id),
    [ids[2], ids[1]],
  )
  const second = (await app.inject({ url: `/api/v1/compliance/subject-requests?limit=2&cursor=${first.nextCursor as string}`, headers: adminOf(tenantId) })).json() as Json
  assert.deepEqual(
    second.data.map((row: Json) => row.id),
    [ids[0]],
  )
  assert.equal(second.nextCursor, null)
  assert.equal((await app.inject({ url: '/api/v1/compliance/subject-requests?cursor=eyJhdCI6MX0', headers: adminOf(tenantId) })).json().code, 'INVALID_CURSOR')
  for (const id of ids) await finished(tenantId, id)
})

test('an export holds what integration-service found and compliance-service rows; an erase then redacts them and clears that export', async () => {
  const tenantId = randomUUID()
  const email = `grace.${randomUUID().slice(0, 8)}@example.test`
  await ownRowsMentioning(tenantId, email)
  // An audit event whose image quotes the email (as a careless writer would): stored masked.
  await app.db.withTenant(tenantId, (trx) =>
    app.auditLogStore.append(trx, tenantId, [
      {
        id: randomUUID(),
        tenantId,
        source: 'venue-service',
        actorType: 'user',
        actorId: 'u1',
        action: 'venue.updated',
        entityType: 'venue',
        entityId: randomUUID(),
        before: null,
        after: { contact: email },
        requestId: null,
        ip: null,
        occurredAt: new Date().toISOString(),
      },
    ]),
  )

  const exportId = ((await post(tenantId, { type: 'export', email })).json() as Json).id as string
  const done = await finished(tenantId, exportId)
  assert.equal(done.status, 'succeeded')
  assert.equal(done.progress, 100)
  assert.deepEqual(done.outcome.found, {
    'integration.records': 2,
    'integration.webhook_inbox': 0,
    'integration.dead_letters': 0,
    'integration.sync_logs': 0,
    'compliance.sync_logs': 1,
    'compliance.security_events': 1,
    'compliance.audit_log': 0,
  })
  const document = (await app.inject({ url: `/api/v1/compliance/subject-requests/${exportId}/export`, headers: adminOf(tenantId) })).json() as Json
  assert.deepEqual(document.subject, { emails: [email], externalIds: [], linkedExternalIds: ['cus_subject01'] })
  assert.equal(document.integration.length, 2)
  assert.deepEqual(document.compliance.map((match: Json) => match.table).sort(), ['security_events', 'sync_logs'])
  const row = await db.adminQuery<Json>('select subject from compliance.subject_requests where id = $1', [exportId])
  assert.equal(row[0]?.subject, null, 'a finished request keeps no identifiers')

  const eraseId = ((await post(tenantId, { type: 'erase', email })).json() as Json).id as string
  const erasedView = await finished(tenantId, eraseId)
  assert.equal(erasedView.status, 'succeeded')
  assert.deepEqual(erasedView.outcome.compliance, { sync_logs: 1, security_events: 1, audit_log_mentions: 0, exports_cleared: 1 })
  assert.deepEqual(erasedView.outcome.integration, { records: 2, webhook_inbox: 0, dead_letters: 0, sync_logs: 0 })
  assert.deepEqual(calls.erase.at(-1), { tenantId, requestId: eraseId, subject: { emails: [email], externalIds: [] } })
  assert.deepEqual(await searchDatabase(db.adminQuery, email), [], "no column of compliance-service's tables mentions the email")
  assert.equal((await app.inject({ url: `/api/v1/compliance/subject-requests/${exportId}/export`, headers: adminOf(tenantId) })).json().code, 'SUBJECT_EXPORT_ERASED')
  const trail = await db.adminQuery<Json>('select action from compliance.audit_log where tenant_id = $1 and entity_id = $2 order by seq', [tenantId, eraseId])
  assert.deepEqual(
    trail.map((entry) => entry.action),
    ['subject_request.created', 'subject_request.completed'],
  )
  assert.equal(((await app.inject({ url: '/api/v1/compliance/audit-log/verify', headers: adminOf(tenantId) })).json() as Json).ok, true)
})

test('a failed attempt is retried; a runner that died is taken over when its lease lapses; the repeat keeps the first counts and audits once', async () => {
  const tenantId = randomUUID()
  const email = `alan.${randomUUID().slice(0, 8)}@example.test`
  failErases = 1
  const id = ((await post(tenantId, { type: 'erase', email })).json() as Json).id as string
  const before = calls.erase.length
  const done = await finished(tenantId, id)
  assert.equal(done.status, 'succeeded')
  assert.equal(done.attempts, 2, 'the first attempt failed (503) and the second succeeded')
  assert.equal(calls.erase.length - before, 2)

  // A runner claims a request, erases at integration-service, and dies before finishing.
  const other = `${randomUUID()}`
  const secondId = ((await post(other, { type: 'erase', email })).json() as Json).id as string
  const repository = createSubjectRequestRepository()
  let claimed
  do claimed = await app.db.withSystemScope((trx) => repository.claim(trx, 1000))
  while (claimed && claimed.id !== secondId)
  assert.ok(claimed)
  const erase = await fetch(`${integrationUrl}/internal/subject-data/erase`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tenantId: other, requestId: secondId, subject: { emails: [email], externalIds: [] } }),
  })
  assert.equal(erase.status, 200)
  await app.db.withTenant(other, (trx) => repository.keepOutcome(trx, secondId, { integration: { records: 2, webhook_inbox: 0, dead_letters: 0, sync_logs: 0 }, tombstones: 2 }))
  // Another runner takes it over once the lease lapses; integration-service now redacts nothing.
  const resumed = await finished(other, secondId)
  assert.equal(resumed.status, 'succeeded')
  assert.equal(resumed.attempts, 2)
  assert.deepEqual(resumed.outcome.integration, { records: 2, webhook_inbox: 0, dead_letters: 0, sync_logs: 0 }, 'the first run’s counts are kept')
  const completed = await db.adminQuery('select 1 from compliance.audit_log where entity_id = $1 and action = $2', [secondId, 'subject_request.completed'])
  assert.equal(completed.length, 1)
})

test('identifiers with characters outside the BMP are masked whole characters at a time: the request is accepted, never a 500', async () => {
  const tenantId = randomUUID()
  const cases: Array<[Json, Json]> = [
    [
      { type: 'export', email: '\u{1F600}x@example.com' },
      { emails: ['\u{1F600}***@***.com'], externalIds: [] },
    ],
    [
      { type: 'export', externalIds: ['cus_abcd\u{1F600}z'] },
      { emails: [], externalIds: ['cus_…\u{1F600}z'] },
    ],
    [
      { type: 'erase', externalIds: ['\u{1F600}\u{1F601}\u{1F602}\u{1F603}\u{1F604}'] },
      { emails: [], externalIds: ['…\u{1F603}\u{1F604}'] },
    ],
  ]
  for (const [payload, masked] of cases) {
    const created = await post(tenantId, payload)
    assert.equal(created.statusCode, 202, `${JSON.stringify(payload)}: ${created.body}`)
    const body = created.json() as Json
    assert.deepEqual(body.subject, masked)
    assert.deepEqual((await view(tenantId, body.id as string)).subject, masked, 'stored as masked')
    const audit = await db.adminQuery<Json>('select after from compliance.audit_log where tenant_id = $1 and entity_id = $2', [tenantId, body.id])
    assert.deepEqual(audit[0]?.after.subject, masked, 'and audited as masked')
    await finished(tenantId, body.id as string)
  }
})
