// compliance-service's side of security events: who may see which stored event (tenant admins
// their tenant's, operators the tenantless ones), and an intake that keeps the highest count of an
// event however often and in whatever order its copies arrive. The reporters' side (venue-service's
// outbox, the gateway's Redis stream, through outages) is tested in those services against a fake
// compliance-service, and across the real processes in e2e/security-events.test.ts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { signRequest } from '@hub/internal-auth'
import type { SecurityEventInput } from '@hub/contracts'
import { createFastify } from '@hub/service-kit'
import { TEST_INTERNAL_KEYS, bearer, createTestDatabase, deleteRedisPrefix, eventually, testRedisPrefix, testServiceEnv, testToken } from '@hub/service-kit/testing'
import complianceService from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { COMPLIANCE_SCHEMA } from '../src/db/schema.ts'

const db = await createTestDatabase([COMPLIANCE_SCHEMA])
const prefix = testRedisPrefix()
const operatorTenant = randomUUID()
const common = testServiceEnv(prefix)
const compliance = createFastify({ service: 'compliance-service', logLevel: process.env.TEST_LOG_LEVEL ?? 'silent' })
await compliance.register(complianceService, {
  config: loadConfig({ ...common, DATABASE_URL: db.urlFor(COMPLIANCE_SCHEMA.appRole), INTEGRATION_SERVICE_URL: 'http://127.0.0.1:9', SYNC_LOG_CONSUMER: 'false', OPERATOR_TENANT_IDS: operatorTenant }),
})
await compliance.ready()
test.after(async () => {
  await compliance.close()
  await db.drop()
  await deleteRedisPrefix(prefix)
})

/** Posts a batch to /internal/security-events signed as `service`, as its reporter does. */
function post(events: object[], service: 'venue-service' | 'api-gateway' = 'venue-service') {
  const body = JSON.stringify({ events })
  const headers = signRequest({ service, keyId: 'k1', secret: TEST_INTERNAL_KEYS[service].k1, method: 'POST', pathWithQuery: '/internal/security-events', body }) as unknown as Record<string, string>
  return compliance.inject({ method: 'POST', url: '/internal/security-events', payload: body, headers: { 'content-type': 'application/json', ...headers } })
}

const storedFrom = (source: string, code: string) =>
  db.adminQuery<{ id: string; count: number; tenant_id: string | null }>('select id, count, tenant_id from compliance.security_events where source = $1 and code = $2 order by occurred_at', [source, code])

test('visibility: a tenant admin sees its own tenant events only; tenantless events are for operator admins', async () => {
  const tenantA = randomUUID()
  const tenantB = randomUUID()
  const now = new Date().toISOString()
  // What venue-service reports when a viewer of tenant A tries an admin action three times in a
  // window, and the gateway when anonymous callers send bad tokens.
  const forbidden: SecurityEventInput = {
    id: randomUUID(),
    type: 'FORBIDDEN',
    severity: 'medium',
    source: 'venue-service',
    code: 'INSUFFICIENT_ROLE',
    tenantId: tenantA,
    actor: 'viewer-a',
    occurredAt: now,
    count: 3,
    firstSeenAt: now,
    lastSeenAt: now,
  }
  const anonymous: SecurityEventInput = { id: randomUUID(), type: 'AUTH_FAILURE', severity: 'medium', source: 'api-gateway', code: 'AUTH_TOKEN_INVALID', tenantId: null, actor: null, ip: '198.51.100.4', occurredAt: now, count: 7 }
  assert.equal((await post([forbidden])).statusCode, 202)
  assert.equal((await post([anonymous], 'api-gateway')).statusCode, 202)

  const list = async (tenantId: string, query = '') => compliance.inject({ url: `/api/v1/compliance/security-events${query}`, headers: bearer(testToken({ tenantId, roles: ['admin'] })) })
  const adminA = (await list(tenantA)).json() as { data: { tenantId: string | null; code: string; count: number; firstSeenAt: string; lastSeenAt: string }[] }
  assert.deepEqual(
    adminA.data.map((e) => [e.tenantId, e.code, e.count]),
    [[tenantA, 'INSUFFICIENT_ROLE', 3]],
    "tenant A's admin sees its one folded event and nothing else",
  )
  assert.ok((adminA.data[0]?.firstSeenAt ?? '') <= (adminA.data[0]?.lastSeenAt ?? ''))
  assert.deepEqual((await list(tenantB)).json().data, [], "tenant B's admin sees none of it")

  const refusedSystem = await list(tenantA, '?scope=system')
  assert.equal(refusedSystem.statusCode, 403)
  assert.equal(refusedSystem.json().code, 'OPERATOR_ONLY')
  const operator = await list(operatorTenant, '?scope=system&limit=500')
  assert.equal(operator.statusCode, 200)
  const systemEvents = operator.json().data as { id: string; tenantId: string | null; source: string; code: string }[]
  assert.ok(
    systemEvents.some((e) => e.id === anonymous.id),
    'the operator sees the anonymous gateway refusals',
  )
  assert.ok(
    systemEvents.every((e) => e.tenantId === null),
    'the system scope holds tenantless events only',
  )
  // An admin of a tenant probing the system scope is itself a security event of that tenant.
  await eventually(
    'the refused probe stored',
    () => storedFrom('compliance-service', 'OPERATOR_ONLY'),
    (rows) => rows.some((row) => row.tenant_id === tenantA),
  )
})

test('intake keeps the highest count of an event: copies in one batch, resends and late lower counts never add rows or lower it', async () => {
  const id = randomUUID()
  const base = { id, type: 'AUTH_FAILURE', severity: 'medium', source: 'venue-service', code: 'INTAKE_TEST', ip: '203.0.113.9', occurredAt: '2026-01-01T00:00:00.000Z' }
  const copy = (count: number, last: string) => ({ ...base, count, firstSeenAt: base.occurredAt, lastSeenAt: last })
  const first = await post([copy(5, '2026-01-01T00:00:05.000Z'), copy(9, '2026-01-01T00:00:09.000Z')])
  assert.deepEqual(first.json(), { accepted: 1, duplicates: 1 })
  assert.deepEqual((await post([copy(3, '2026-01-01T00:00:03.000Z')])).json(), { accepted: 0, duplicates: 1 }, 'a late, lower copy')
  assert.deepEqual((await post([copy(12, '2026-01-01T00:00:12.000Z')])).json(), { accepted: 0, duplicates: 1 })
  const rows = await db.adminQuery<{ count: number; first_seen_at: Date; last_seen_at: Date }>('select count, first_seen_at, last_seen_at from compliance.security_events where id = $1', [id])
  assert.deepEqual(
    rows.map((row) => [row.count, row.first_seen_at.toISOString(), row.last_seen_at.toISOString()]),
    [[12, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:12.000Z']],
  )
})

test('unsigned calls from one IP, each claiming another service, are stored as one event counting them all; another IP stays apart', async () => {
  const unsigned = (i: number, ip: string) =>
    compliance.inject({ method: 'POST', url: '/internal/security-events', headers: { 'content-type': 'application/json', 'x-internal-service': `attacker-${i}` }, payload: '{"events":[]}', remoteAddress: ip })
  for (let i = 0; i < 300; i++) assert.equal((await unsigned(i, '203.0.113.77')).statusCode, 401)
  for (let i = 0; i < 2; i++) assert.equal((await unsigned(i, '203.0.113.78')).statusCode, 401)
  const fromIp = (ip: string) =>
    db.adminQuery<{ actor: string | null; count: number; claimed: string | null }>(
      `select actor, count, details->>'claimedService' as claimed from compliance.security_events where source = 'compliance-service' and code = 'INTERNAL_AUTH_MISSING_HEADERS' and ip = $1`,
      [ip],
    )
  const flooder = await eventually(
    'the 300 refusals stored',
    () => fromIp('203.0.113.77'),
    (rows) => rows.reduce((sum, row) => sum + row.count, 0) >= 300,
  )
  assert.deepEqual(
    flooder.map((row) => [row.actor, row.count]),
    [[null, 300]],
    'a name anyone can send does not make each call its own row',
  )
  assert.match(flooder[0]?.claimed ?? '', /^attacker-\d+$/, 'the claimed name is kept as a detail')
  const other = await eventually(
    'the other IP stored',
    () => fromIp('203.0.113.78'),
    (rows) => rows.reduce((sum, row) => sum + row.count, 0) >= 2,
  )
  assert.deepEqual(
    other.map((row) => row.count),
    [2],
    'another IP is another event',
  )
})

test('refusals written after the event was resolved re-open it; a late copy from before the resolution does not', async () => {
  const tenant = randomUUID()
  const admin = bearer(testToken({ tenantId: tenant, roles: ['admin'] }))
  const id = randomUUID()
  const t0 = new Date(Date.now() - 60_000).toISOString()
  const t1 = new Date(Date.now() - 30_000).toISOString()
  const base = { id, type: 'FORBIDDEN', severity: 'low', source: 'venue-service', code: 'INSUFFICIENT_ROLE', tenantId: tenant, actor: 'viewer-1', occurredAt: t0, firstSeenAt: t0 }
  assert.equal((await post([{ ...base, count: 1, lastSeenAt: t0 }])).statusCode, 202)
  const open = async () =>
    ((await compliance.inject({ url: '/api/v1/compliance/security-events?open=true', headers: admin })).json().data as Array<{ id: string; count: number; resolvedAt: string | null }>).map((e) => [e.id, e.count, e.resolvedAt])
  const resolve = () => compliance.inject({ method: 'POST', url: `/api/v1/compliance/security-events/${id}/resolve`, headers: admin, payload: { note: 'benign' } })
  assert.equal((await resolve()).statusCode, 200)
  // A resend of what was known before the resolution (a higher count, seen before it) stays resolved.
  assert.equal((await post([{ ...base, count: 2, lastSeenAt: t1 }])).statusCode, 202)
  assert.deepEqual(await open(), [], 'nothing new since the resolution')
  assert.equal((await resolve()).statusCode, 409)
  // The reporter's window was still open: more refusals after the resolution, under the same id.
  assert.equal((await post([{ ...base, count: 50, lastSeenAt: new Date(Date.now() + 1000).toISOString() }])).statusCode, 202)
  assert.deepEqual(await open(), [[id, 50, null]], 'open again, with the grown count')
  const row = (await db.adminQuery<{ resolved_by: string | null; resolution_note: string | null }>('select resolved_by, resolution_note from compliance.security_events where id = $1', [id]))[0]
  assert.deepEqual(row, { resolved_by: null, resolution_note: null })
  const again = await resolve()
  assert.equal(again.statusCode, 200, 'and it can be resolved again')
  const audited = await compliance.inject({ url: `/api/v1/compliance/audit-log?entityId=${id}`, headers: admin })
  assert.deepEqual(
    audited.json().data.map((entry: { action: string }) => entry.action),
    ['security_event.resolved', 'security_event.resolved'],
    'each resolution is in the audit log',
  )
})

test('one event id in two letter cases within a batch is one event, not a 500 its sender would retry forever', async () => {
  const id = randomUUID()
  const base = { type: 'AUTH_FAILURE', severity: 'medium', source: 'venue-service', code: 'CASE_TEST', ip: '203.0.113.9', occurredAt: new Date().toISOString() }
  const res = await post([
    { ...base, id },
    { ...base, id: id.toUpperCase(), count: 2 },
  ])
  assert.equal(res.statusCode, 202, res.body)
  assert.deepEqual(res.json(), { accepted: 1, duplicates: 1 })
  assert.deepEqual((await post([{ ...base, id: id.toUpperCase(), count: 3 }])).json(), { accepted: 0, duplicates: 1 }, 'a later copy in capitals is the same event')
  const rows = await db.adminQuery<{ id: string; count: number }>('select id, count from compliance.security_events where code = $1', ['CASE_TEST'])
  assert.deepEqual(
    rows.map((row) => [row.id, row.count]),
    [[id, 3]],
  )
})

test('an operator resolves a tenantless event, audited in its own tenant; a tenant admin cannot, nor can the operator reach another tenant', async () => {
  const id = randomUUID()
  const anonymous = { id, type: 'AUTH_FAILURE', severity: 'medium', source: 'api-gateway', code: 'AUTH_TOKEN_INVALID', tenantId: null, actor: null, ip: '198.51.100.44', occurredAt: new Date().toISOString() }
  const otherTenant = randomUUID()
  const tenantEvent = { ...anonymous, id: randomUUID(), tenantId: otherTenant }
  assert.equal((await post([anonymous, tenantEvent], 'api-gateway')).statusCode, 202)
  const resolve = (eventId: string, tenantId: string) =>
    compliance.inject({ method: 'POST', url: `/api/v1/compliance/security-events/${eventId}/resolve`, headers: bearer(testToken({ tenantId, roles: ['admin'], sub: `admin-of-${tenantId.slice(0, 8)}` })), payload: { note: 'scanner' } })

  const tenantAdmin = await resolve(id, randomUUID())
  assert.equal(tenantAdmin.statusCode, 404, 'a tenant admin does not even learn that it exists')
  assert.equal(tenantAdmin.json().code, 'SECURITY_EVENT_NOT_FOUND')
  assert.equal((await resolve(tenantEvent.id, operatorTenant)).statusCode, 404, "an operator does not resolve another tenant's event")

  const operator = await resolve(id, operatorTenant)
  assert.equal(operator.statusCode, 200, operator.body)
  assert.deepEqual([operator.json().id, operator.json().tenantId, operator.json().resolvedBy, operator.json().resolutionNote], [id, null, `admin-of-${operatorTenant.slice(0, 8)}`, 'scanner'])
  assert.equal((await resolve(id, operatorTenant)).json().code, 'SECURITY_EVENT_ALREADY_RESOLVED')
  const list = await compliance.inject({ url: '/api/v1/compliance/security-events?scope=system&open=true&limit=500', headers: bearer(testToken({ tenantId: operatorTenant, roles: ['admin'] })) })
  assert.ok(!(list.json().data as Array<{ id: string }>).some((e) => e.id === id), 'no longer open')
  const audited = await db.adminQuery<{ tenant_id: string; action: string; actor_id: string }>('select tenant_id, action, actor_id from compliance.audit_log where entity_id = $1', [id])
  assert.deepEqual(
    audited.map((row) => [row.tenant_id, row.action, row.actor_id]),
    [[operatorTenant, 'security_event.resolved', `admin-of-${operatorTenant.slice(0, 8)}`]],
    "audited once, in the operator's own tenant",
  )
  const stillOpen = await db.adminQuery<{ resolved_at: Date | null }>('select resolved_at from compliance.security_events where id = $1', [tenantEvent.id])
  assert.equal(stillOpen[0]?.resolved_at, null)
})
