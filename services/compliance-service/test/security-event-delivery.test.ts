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
