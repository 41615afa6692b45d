import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { get, type IncomingMessage } from 'node:http'
import { createFastify, createKnex, type ServiceInstance } from '@hub/service-kit'
import { TEST_INTERNAL_KEYS, bearer, createTestDatabase, deleteRedisPrefix, listenLocal, testRedisPrefix, testServiceEnv, testToken } from '@hub/service-kit/testing'
import { signRequest } from '@hub/internal-auth'
import type { AuditEventBatchResult, AuditEventInput } from '@hub/contracts'
import complianceService from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { COMPLIANCE_SCHEMA } from '../src/db/schema.ts'
import { GENESIS_HASH } from '../src/plugins/app/audit-log-store.ts'

const db = await createTestDatabase([COMPLIANCE_SCHEMA])
const prefix = testRedisPrefix()
const common = testServiceEnv(prefix)
const apps: ServiceInstance[] = []
test.after(async () => {
  await Promise.all(apps.map((app) => app.close().catch(() => undefined)))
  await db.drop()
  await deleteRedisPrefix(prefix)
})

const compliance = createFastify({ service: 'compliance-service', logLevel: 'silent' })
await compliance.register(complianceService, { config: loadConfig({ ...common, DATABASE_URL: db.urlFor(COMPLIANCE_SCHEMA.appRole), INTEGRATION_SERVICE_URL: 'http://127.0.0.1:9', SYNC_LOG_CONSUMER: 'false' }) })
apps.push(compliance)
await compliance.ready()
// The export's mid-stream test needs a real socket (inject buffers the whole answer).
const complianceUrl = await listenLocal(compliance)

/** Posts a batch to /internal/audit-events signed as `service`, as its outbox relay does. */
async function deliver(events: AuditEventInput[], service: 'venue-service' | 'integration-service' = 'venue-service'): Promise<AuditEventBatchResult> {
  const body = JSON.stringify({ events })
  const headers = signRequest({ service, keyId: 'k1', secret: TEST_INTERNAL_KEYS[service].k1, method: 'POST', pathWithQuery: '/internal/audit-events', body }) as unknown as Record<string, string>
  const response = await compliance.inject({ method: 'POST', url: '/internal/audit-events', headers: { ...headers, 'content-type': 'application/json' }, payload: body })
  assert.equal(response.statusCode, 200, response.body)
  return response.json() as AuditEventBatchResult
}

type Entry = {
  seq: string
  eventId: string
  source: string
  actorType: string
  actorId: string
  action: string
  entityId: string
  before: Record<string, unknown> | null
  after: Record<string, unknown> | null
  prevHash: string
  hash: string
}

const adminOf = (tenantId: string) => bearer(testToken({ tenantId, roles: ['admin'], sub: `auditor-${tenantId.slice(0, 4)}` }))

async function auditLog(tenantId: string, query = ''): Promise<Entry[]> {
  const response = await compliance.inject({ url: `/api/v1/compliance/audit-log${query}`, headers: adminOf(tenantId) })
  assert.equal(response.statusCode, 200, response.body)
  return response.json().data as Entry[]
}

async function verify(tenantId: string) {
  const response = await compliance.inject({ url: '/api/v1/compliance/audit-log/verify', headers: adminOf(tenantId) })
  assert.equal(response.statusCode, 200, response.body)
  return response.json() as { ok: boolean; checked: number; archived: number; headHash: string; firstBroken: { seq: string; eventId: string; reason: string } | null }
}

/**
 * The three audit events venue-service records when a tenant's admin creates, renames and deletes
 * a venue, in its outbox order (that its relay sends them is venue-service's test; that they arrive
 * from the running service, e2e/cross-process.test.ts).
 */
function venueLifecycle(tenantId: string): { venueId: string; events: AuditEventInput[] } {
  const venueId = randomUUID()
  const image = (name: string) => ({ id: venueId, tenantId, name, timezone: 'UTC', currency: 'EUR' })
  const event = (action: string, before: object | null, after: object | null, second: number): AuditEventInput => ({
    id: randomUUID(),
    tenantId,
    source: 'venue-service',
    actorType: 'user',
    actorId: `auditor-${tenantId.slice(0, 4)}`,
    action,
    entityType: 'venue',
    entityId: venueId,
    before,
    after,
    requestId: randomUUID(),
    ip: '203.0.113.7',
    occurredAt: new Date(Date.now() - 60_000 + second * 1000).toISOString(),
  })
  return {
    venueId,
    events: [event('venue.created', null, image('Audit Hall'), 0), event('venue.updated', image('Audit Hall'), image('Audit Hall Renamed'), 1), event('venue.deleted', image('Audit Hall Renamed'), null, 2)],
  }
}

test('delivered venue changes are appended to the audit log, chained per tenant, and a second delivery changes nothing', async () => {
  const tenant = randomUUID()
  const { venueId, events } = venueLifecycle(tenant)
  assert.deepEqual(await deliver(events), { accepted: 3, duplicates: 0 })
  const entries = await auditLog(tenant)
  assert.deepEqual(
    entries.map((entry) => [entry.action, entry.source, entry.actorType, entry.actorId, entry.entityId]),
    [
      ['venue.deleted', 'venue-service', 'user', `auditor-${tenant.slice(0, 4)}`, venueId],
      ['venue.updated', 'venue-service', 'user', `auditor-${tenant.slice(0, 4)}`, venueId],
      ['venue.created', 'venue-service', 'user', `auditor-${tenant.slice(0, 4)}`, venueId],
    ],
  )
  const [deleted, updated, created] = entries as [Entry, Entry, Entry]
  assert.deepEqual([updated.before?.name, updated.after?.name], ['Audit Hall', 'Audit Hall Renamed'])
  assert.equal(created.prevHash, GENESIS_HASH, "the tenant's chain starts at the genesis hash")
  assert.equal(updated.prevHash, created.hash)
  assert.equal(deleted.prevHash, updated.hash)
  assert.deepEqual(await verify(tenant), { ok: true, checked: 3, archived: 0, headHash: deleted.hash, firstBroken: null })
  const report = await compliance.inject({ url: `/api/v1/compliance/venues/${venueId}/report?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z`, headers: adminOf(tenant) })
  assert.equal(report.statusCode, 200, 'a venue known from its audit trail has a report, deleted or not')
  assert.equal(report.json().totalRuns, 0)

  // The relay crashed after compliance-service took the batch but before marking it: it sends again.
  assert.deepEqual(await deliver(events), { accepted: 0, duplicates: 3 })
  assert.equal((await auditLog(tenant)).length, 3, 'a redelivered event is recorded once')
  assert.equal((await verify(tenant)).checked, 3)

  // Another tenant has its own chain and sees nothing of this one.
  const other = randomUUID()
  await deliver(venueLifecycle(other).events)
  const theirs = await auditLog(other)
  assert.equal(theirs.length, 3)
  assert.ok(
    theirs.every((entry) => entry.entityId !== venueId),
    "no entry of the first tenant's venue",
  )
  assert.equal(theirs.at(-1)?.prevHash, GENESIS_HASH)
  assert.deepEqual((await verify(other)).ok, true)

  // Filters and cursor pagination walk the same entries.
  const page1 = await compliance.inject({ url: `/api/v1/compliance/audit-log?entityId=${venueId}&limit=2`, headers: adminOf(tenant) })
  const page2 = await compliance.inject({ url: `/api/v1/compliance/audit-log?entityId=${venueId}&limit=2&cursor=${encodeURIComponent(page1.json().nextCursor)}`, headers: adminOf(tenant) })
  assert.deepEqual(
    [...page1.json().data, ...page2.json().data].map((entry: Entry) => entry.action),
    ['venue.deleted', 'venue.updated', 'venue.created'],
  )
  assert.equal(page2.json().nextCursor, null)
  assert.deepEqual(
    (await auditLog(tenant, '?action=venue.updated')).map((entry) => entry.seq),
    [updated.seq],
  )

  // An auditor's export of a period: oldest first, JSON images quoted, hashes included.
  const from = new Date(Date.now() - 3_600_000).toISOString()
  const to = new Date(Date.now() + 60_000).toISOString()
  const exported = await compliance.inject({ url: `/api/v1/compliance/audit-log/export?from=${from}&to=${to}`, headers: adminOf(tenant) })
  assert.equal(exported.statusCode, 200, exported.body)
  assert.match(String(exported.headers['content-type']), /^text\/csv/)
  const lines = exported.body.trimEnd().split('\r\n')
  assert.equal(lines[0], 'seq,occurred_at,recorded_at,source,actor_type,actor_id,action,entity_type,entity_id,request_id,ip,before,after,prev_hash,hash')
  assert.deepEqual(
    lines.slice(1).map((line) => line.split(',')[6]),
    ['venue.created', 'venue.updated', 'venue.deleted'],
  )
  assert.ok(lines[2]?.includes('"{""id"":'), 'the JSON images are quoted CSV cells')
  assert.ok(lines[3]?.endsWith(`,${updated.hash},${deleted.hash}`))
  const empty = await compliance.inject({ url: `/api/v1/compliance/audit-log/export?from=${to}&to=${new Date(Date.now() + 120_000).toISOString()}`, headers: adminOf(tenant) })
  assert.equal(empty.body.trimEnd().split('\r\n').length, 1, 'a period with nothing in it is the header alone')
  const backwards = await compliance.inject({ url: `/api/v1/compliance/audit-log/export?from=${to}&to=${from}`, headers: adminOf(tenant) })
  assert.equal(backwards.json().code, 'INVALID_PERIOD')
})

test('the audit log refuses UPDATE, DELETE and TRUNCATE from its service role and its owner; verify names the first tampered entry', async () => {
  const tenant = randomUUID()
  await deliver(venueLifecycle(tenant).events)
  const [, second] = (await auditLog(tenant)).reverse() as [Entry, Entry, Entry]

  const asService = createKnex(db.urlFor(COMPLIANCE_SCHEMA.appRole))
  try {
    for (const sql of [`update compliance.audit_log set action = 'forged' where seq = ${second.seq}`, `delete from compliance.audit_log where seq = ${second.seq}`, 'truncate compliance.audit_log']) {
      await assert.rejects(
        asService.transaction(async (trx) => {
          await trx.raw("select set_config('app.tenant_id', ?, true)", [tenant])
          await trx.raw(sql)
        }),
        (error: { code?: string }) => error.code === '42501',
        sql,
      )
    }
  } finally {
    await asService.destroy()
  }
  for (const sql of [`update compliance.audit_log set action = 'forged' where seq = ${second.seq}`, `delete from compliance.audit_log where seq = ${second.seq}`]) {
    await assert.rejects(db.adminQuery(sql), /append-only/, `even a superuser goes through the trigger: ${sql}`)
  }
  assert.equal((await verify(tenant)).ok, true)

  // Behind the database's back (triggers disabled by a superuser): the chain shows where.
  await db.adminQuery(`alter table compliance.audit_log disable trigger audit_log_no_update_or_delete;
    update compliance.audit_log set after = '{"name":"Forged"}' where seq = ${second.seq};
    alter table compliance.audit_log enable trigger audit_log_no_update_or_delete`)
  assert.deepEqual(await verify(tenant), { ok: false, checked: 1, archived: 0, headHash: second.prevHash, firstBroken: { seq: second.seq, eventId: second.eventId, reason: 'hash_mismatch' } })

  const other = randomUUID()
  await deliver(venueLifecycle(other).events)
  const [first, middle, last] = (await auditLog(other)).reverse() as [Entry, Entry, Entry]
  await db.adminQuery(`alter table compliance.audit_log disable trigger audit_log_no_update_or_delete;
    delete from compliance.audit_log where seq = ${middle.seq};
    alter table compliance.audit_log enable trigger audit_log_no_update_or_delete`)
  assert.deepEqual(await verify(other), { ok: false, checked: 1, archived: 0, headHash: first.hash, firstBroken: { seq: last.seq, eventId: last.eventId, reason: 'chain_broken' } })
})

test('POST /internal/audit-events: signed callers with the permission only, bad batches refused, nothing half-written', async () => {
  const tenant = randomUUID()
  const event = {
    id: randomUUID(),
    tenantId: tenant,
    source: 'venue-service',
    actorType: 'user',
    actorId: 'u-1',
    action: 'venue.created',
    entityType: 'venue',
    entityId: randomUUID(),
    before: null,
    after: { name: 'X' },
    requestId: null,
    ip: null,
    occurredAt: new Date().toISOString(),
  }
  const post = (service: keyof typeof TEST_INTERNAL_KEYS | null, payload: unknown) => {
    const body = JSON.stringify(payload)
    const signed = service ? (signRequest({ service, keyId: 'k1', secret: TEST_INTERNAL_KEYS[service].k1, method: 'POST', pathWithQuery: '/internal/audit-events', body }) as unknown as Record<string, string>) : {}
    return compliance.inject({ method: 'POST', url: '/internal/audit-events', headers: { ...signed, 'content-type': 'application/json' }, payload: body })
  }
  assert.equal((await post(null, { events: [event] })).statusCode, 401)
  assert.equal((await post('api-gateway', { events: [event] })).statusCode, 403, 'the gateway has no audit outbox and may not write')
  const bad = await post('venue-service', { events: [event, { ...event, id: randomUUID(), actorType: 'robot' }] })
  assert.equal(bad.statusCode, 400)
  assert.match(String(bad.headers['content-type']), /application\/problem\+json/)
  assert.equal((await auditLog(tenant)).length, 0, 'a refused batch leaves nothing behind')
  const ok = await post('integration-service', { events: [event] })
  assert.deepEqual([ok.statusCode, ok.json()], [200, { accepted: 1, duplicates: 0 }])
  const again = await post('integration-service', { events: [event] })
  assert.deepEqual(again.json(), { accepted: 0, duplicates: 1 })
  const hijack = await post('integration-service', { events: [{ ...event, tenantId: randomUUID() }] })
  assert.equal(hijack.statusCode, 409, 'an event id of another tenant is never merged')
  assert.equal(hijack.json().code, 'AUDIT_EVENT_CONFLICT')
})

/** Polls `probe` until it returns a value, or fails with `what` at the deadline. */
async function eventually<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Every byte of a response body, or the error that cut it short. */
function drain(response: IncomingMessage): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0
    response.on('data', (chunk: Buffer) => (bytes += chunk.length))
    response.once('end', () => resolve(bytes))
    response.once('error', reject)
    // Paused by the test: a 'data' listener alone does not restart it.
    response.resume()
  })
}

test('an audit-log export whose database connection dies mid-stream ends as an aborted response, never a complete 200', { timeout: 240_000 }, async () => {
  const tenant = randomUUID()
  // More rows than one export batch (1,000), the first batch far larger than every socket buffer
  // between the service and a paused client (~20 MB against a few MB), so the second batch can
  // only be read once the test lets the client go on.
  await db.adminQuery(
    `insert into compliance.audit_log (tenant_id, event_id, source, actor_type, actor_id, action, entity_type, entity_id, after, occurred_at, prev_hash, hash)
     select ?, gen_random_uuid(), 'venue-service', 'user', 'bulk', 'venue.updated', 'venue', i::text, jsonb_build_object('note', repeat(md5(i::text), 625)), now() - interval '1 minute', repeat('0', 64), repeat('0', 64)
     from generate_series(1, 1500) as i`,
    [tenant],
  )
  const from = new Date(Date.now() - 3_600_000).toISOString()
  const to = new Date(Date.now() + 60_000).toISOString()
  const url = `${complianceUrl}/api/v1/compliance/audit-log/export?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`

  const response = await new Promise<IncomingMessage>((resolve, reject) => get(url, { headers: adminOf(tenant) }, resolve).once('error', reject))
  assert.equal(response.statusCode, 200)
  assert.match(String(response.headers['content-type']), /^text\/csv/)
  assert.equal(response.headers['transfer-encoding'], 'chunked', 'streamed: the length is not known up front')
  await new Promise((resolve) => response.once('readable', resolve))
  response.pause()

  // A second connection takes the table, so the export's next batch waits on the lock; the backend
  // serving it is then terminated, as a crashed or failed-over database would.
  const admin = createKnex(db.adminUrl, { poolMax: 1 })
  try {
    const lock = await admin.transaction()
    await lock.raw('lock table compliance.audit_log in access exclusive mode')
    // Settled into a value at once: the cut can come while the lock is still being released, and
    // a rejection nobody awaits yet would fail the test as unhandled.
    const body = drain(response).then(
      () => null,
      (error: NodeJS.ErrnoException) => error,
    )
    const terminated = await eventually('the export waits for its second batch', 120_000, async () => {
      const rows = await db.adminQuery<{ pid: number }>("select pid from pg_stat_activity where datname = ? and usename = ? and wait_event_type = 'Lock'", [db.name, COMPLIANCE_SCHEMA.appRole])
      if (rows.length === 0) return undefined
      await db.adminQuery('select pg_terminate_backend(?)', [rows[0]!.pid])
      return rows[0]!.pid
    })
    assert.ok(terminated > 0)
    await lock.rollback()
    assert.equal((await body)?.code, 'ECONNRESET', 'the client sees the response cut short, not a clean end')
  } finally {
    await admin.destroy()
  }

  // The service is still there, and the next export of the same period is whole.
  const again = await compliance.inject({ url: `/api/v1/compliance/audit-log/export?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`, headers: adminOf(tenant) })
  assert.equal(again.statusCode, 200)
  assert.equal(again.body.trimEnd().split('\r\n').length, 1 + 1500)
})
