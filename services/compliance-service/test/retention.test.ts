import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { AuditEventInput } from '@hub/contracts'
import { generateSigningKeyRingJson } from '@hub/crypto'
import { createFastify } from '@hub/service-kit'
import { TEST_INTERNAL_KEYS, bearer, createTestDatabase, deleteRedisPrefix, scrapeMetrics, testRedisPrefix, testServiceEnv, testToken } from '@hub/service-kit/testing'
import { signRequest } from '@hub/internal-auth'
import complianceService from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { COMPLIANCE_SCHEMA } from '../src/db/schema.ts'

const ROOT = new URL('../../..', import.meta.url).pathname
const CLI = join(ROOT, 'services/compliance-service/src/cli/verify-audit-export.ts')
const DAY = 86_400_000
const db = await createTestDatabase([COMPLIANCE_SCHEMA])
const prefix = testRedisPrefix()
const archiveDir = mkdtempSync(join(tmpdir(), 'hub-audit-archive-'))
const scratch = mkdtempSync(join(tmpdir(), 'hub-retention-'))
const app = createFastify({ service: 'compliance-service', logLevel: (process.env.TEST_LOG_LEVEL ?? 'silent') as 'silent' })
await app.register(complianceService, {
  config: loadConfig({
    ...testServiceEnv(prefix),
    DATABASE_URL: db.urlFor(COMPLIANCE_SCHEMA.appRole),
    SYNC_LOG_CONSUMER: 'false',
    AUDIT_DIGEST_INTERVAL_MS: '0',
    AUDIT_SIGNING_KEYS: generateSigningKeyRingJson([1]),
    AUDIT_ARCHIVE_DIR: archiveDir,
    RETENTION_INTERVAL_MS: '0',
    // Small batches, so the seeded rows take several statements.
    RETENTION_BATCH_SIZE: '3',
    RETENTION_BATCH_PAUSE_MS: '0',
  }),
})
await app.ready()
test.after(async () => {
  await app.close()
  await db.drop()
  await deleteRedisPrefix(prefix)
})

const adminOf = (tenantId: string) => bearer(testToken({ tenantId, roles: ['admin'] }))

async function appendAudit(tenantId: string, count: number, occurredAt: Date): Promise<void> {
  const events: AuditEventInput[] = Array.from({ length: count }, (_, i) => ({
    id: randomUUID(),
    tenantId,
    source: 'integration-service',
    actorType: 'service',
    actorId: 'integration-worker',
    action: 'connection.updated',
    entityType: 'connection',
    entityId: randomUUID(),
    before: { status: 'active' },
    after: { status: 'paused', step: i },
    requestId: null,
    ip: null,
    occurredAt: occurredAt.toISOString(),
  }))
  await app.db.withTenant(tenantId, (trx) => app.auditLogStore.append(trx, tenantId, events))
}

async function seedSyncLog(tenantId: string, venueId: string, connectionId: string, ageDays: number): Promise<string> {
  const id = randomUUID()
  const at = new Date(Date.now() - ageDays * DAY).toISOString()
  await db.adminQuery(
    `insert into compliance.sync_logs (id, tenant_id, venue_id, connection_id, provider, entity, mode, trigger, queue, status, records_fetched, records_created, records_updated, records_unchanged, records_deleted, records_failed, source_created_at, source_updated_at)
     values ($1, $2, $3, $4, 'stripe', 'customers', 'full', 'manual', 'integration-normal', 'succeeded', 0, 0, 0, 0, 0, 0, $5, $6)`,
    [id, tenantId, venueId, connectionId, at, at],
  )
  return id
}

async function seedSecurityEvent(tenantId: string | null, ageDays: number): Promise<string> {
  const id = randomUUID()
  const at = new Date(Date.now() - ageDays * DAY).toISOString()
  await db.adminQuery(
    `insert into compliance.security_events (id, tenant_id, type, severity, source, code, occurred_at, first_seen_at, last_seen_at, count) values ($1, $2, 'FORBIDDEN', 'low', 'api-gateway', 'INSUFFICIENT_ROLE', $3, $4, $5, 1)`,
    [id, tenantId, at, at, at],
  )
  return id
}

const ids = async (table: string, tenantId: string) => (await db.adminQuery<{ id: string }>(`select id from compliance.${table} where tenant_id = $1 order by id`, [tenantId])).map((row) => row.id).sort()
const auditCount = async (tenantId: string) => Number((await db.adminQuery<{ n: string }>('select count(*) as n from compliance.audit_log where tenant_id = $1', [tenantId]))[0]?.n)

async function auditVerify(file: string): Promise<{ code: number; stdout: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(DATABASE|PG)/.test(name)))
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', CLI, file], { cwd: ROOT, env })
    return { code: 0, stdout }
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string }
    return { code: failed.code ?? -1, stdout: `${failed.stdout ?? ''}${failed.stderr ?? ''}` }
  }
}

test('a policy starts at the defaults, refuses periods under the hub minimum with a problem, versions every change and audits it', async () => {
  const tenant = randomUUID()
  const headers = adminOf(tenant)
  const initial = await app.inject({ url: '/api/v1/compliance/retention/policy', headers })
  assert.equal(initial.statusCode, 200, initial.body)
  assert.deepEqual([initial.json().version, initial.json().periods.auditLog, initial.json().minimums.auditLog], [0, 6 * 365, 365])

  const tooShort = await app.inject({ method: 'PUT', url: '/api/v1/compliance/retention/policy', headers, payload: { periods: { auditLog: 364 } } })
  assert.equal(tooShort.statusCode, 400)
  assert.match(String(tooShort.headers['content-type']), /application\/problem\+json/)
  assert.deepEqual([tooShort.json().code, tooShort.json().kind, tooShort.json().minimumDays], ['RETENTION_PERIOD_TOO_SHORT', 'auditLog', 365])
  const unknownKind = await app.inject({ method: 'PUT', url: '/api/v1/compliance/retention/policy', headers, payload: { periods: { everything: 1 } } })
  assert.equal(unknownKind.statusCode, 400)

  const set = await app.inject({ method: 'PUT', url: '/api/v1/compliance/retention/policy', headers, payload: { periods: { syncLogs: 60, auditLog: 400 }, expectedVersion: 0 } })
  assert.equal(set.statusCode, 200, set.body)
  assert.deepEqual([set.json().version, set.json().periods.syncLogs, set.json().periods.auditLog, set.json().periods.webhookPayloads], [1, 60, 400, 30])
  const stale = await app.inject({ method: 'PUT', url: '/api/v1/compliance/retention/policy', headers, payload: { periods: { syncLogs: 90 }, expectedVersion: 0 } })
  assert.deepEqual([stale.statusCode, stale.json().code], [409, 'RETENTION_POLICY_VERSION_CONFLICT'])
  const versions = await app.inject({ url: '/api/v1/compliance/retention/policy/versions', headers })
  assert.deepEqual(
    versions.json().data.map((v: { version: number }) => v.version),
    [1],
  )

  const viewer = await app.inject({ method: 'PUT', url: '/api/v1/compliance/retention/policy', headers: bearer(testToken({ tenantId: tenant, roles: ['viewer'] })), payload: { periods: { syncLogs: 90 } } })
  assert.equal(viewer.statusCode, 403)
  const audited = (await app.inject({ url: '/api/v1/compliance/audit-log?entityType=retention_policy', headers })).json().data
  assert.deepEqual(
    audited.map((e: { action: string; after: { syncLogs: number } }) => [e.action, e.after.syncLogs]),
    [['retention_policy.updated', 60]],
  )
})

test('a legal hold is placed once per scope, released once, and both are audited without the reason', async () => {
  const tenant = randomUUID()
  const venue = randomUUID()
  const headers = adminOf(tenant)
  const placed = await app.inject({ method: 'POST', url: '/api/v1/compliance/retention/holds', headers, payload: { scope: 'venue', scopeId: venue, reason: 'Matter 2026-114' } })
  assert.equal(placed.statusCode, 201, placed.body)
  const again = await app.inject({ method: 'POST', url: '/api/v1/compliance/retention/holds', headers, payload: { scope: 'venue', scopeId: venue, reason: 'Matter 2026-114' } })
  assert.deepEqual([again.statusCode, again.json().id], [200, placed.json().id], 'the same active hold')
  const noScope = await app.inject({ method: 'POST', url: '/api/v1/compliance/retention/holds', headers, payload: { scope: 'connection', reason: 'x' } })
  assert.deepEqual([noScope.statusCode, noScope.json().code], [400, 'LEGAL_HOLD_SCOPE_ID_REQUIRED'])
  const whole = await app.inject({ method: 'POST', url: '/api/v1/compliance/retention/holds', headers, payload: { scope: 'tenant', reason: 'Litigation' } })
  assert.deepEqual([whole.statusCode, whole.json().scopeId], [201, tenant])

  const released = await app.inject({ method: 'POST', url: `/api/v1/compliance/retention/holds/${placed.json().id}/release`, headers })
  assert.equal(released.statusCode, 200, released.body)
  assert.ok(released.json().releasedAt)
  const releasedAgain = await app.inject({ method: 'POST', url: `/api/v1/compliance/retention/holds/${placed.json().id}/release`, headers })
  assert.deepEqual([releasedAgain.statusCode, releasedAgain.json().releasedAt], [200, released.json().releasedAt])
  const missing = await app.inject({ method: 'POST', url: `/api/v1/compliance/retention/holds/${randomUUID()}/release`, headers })
  assert.deepEqual([missing.statusCode, missing.json().code], [404, 'LEGAL_HOLD_NOT_FOUND'])
  const otherTenant = await app.inject({ method: 'POST', url: `/api/v1/compliance/retention/holds/${whole.json().id}/release`, headers: adminOf(randomUUID()) })
  assert.equal(otherTenant.statusCode, 404, 'another tenant cannot see the hold')

  const active = await app.inject({ url: '/api/v1/compliance/retention/holds?active=true', headers })
  assert.deepEqual(
    active.json().data.map((h: { scope: string }) => h.scope),
    ['tenant'],
  )
  const audit = (await app.inject({ url: '/api/v1/compliance/audit-log?entityType=legal_hold', headers })).json().data as Array<{ action: string; after: unknown }>
  assert.deepEqual(audit.map((e) => e.action).sort(), ['legal_hold.placed', 'legal_hold.placed', 'legal_hold.released'])
  assert.ok(!JSON.stringify(audit).includes('Matter 2026-114'), 'the reason stays out of the audit log')
})

test('the clean-up purges exactly what is past its period and nothing under a hold, and a second run changes nothing', async () => {
  const plain = randomUUID()
  const venueHeld = randomUUID()
  const tenantHeld = randomUUID()
  const venue = randomUUID()
  const heldVenue = randomUUID()
  const connection = randomUUID()
  const heldConnection = randomUUID()
  await app.inject({ method: 'PUT', url: '/api/v1/compliance/retention/policy', headers: adminOf(plain), payload: { periods: { syncLogs: 30, securityEvents: 90 } } })
  await app.inject({ method: 'PUT', url: '/api/v1/compliance/retention/policy', headers: adminOf(venueHeld), payload: { periods: { syncLogs: 30, securityEvents: 90 } } })
  await app.inject({ method: 'POST', url: '/api/v1/compliance/retention/holds', headers: adminOf(venueHeld), payload: { scope: 'venue', scopeId: heldVenue, reason: 'r' } })
  await app.inject({ method: 'POST', url: '/api/v1/compliance/retention/holds', headers: adminOf(venueHeld), payload: { scope: 'connection', scopeId: heldConnection, reason: 'r' } })
  await app.inject({ method: 'POST', url: '/api/v1/compliance/retention/holds', headers: adminOf(tenantHeld), payload: { scope: 'tenant', reason: 'r' } })

  const kept: Record<string, string[]> = { [plain]: [], [venueHeld]: [], [tenantHeld]: [] }
  const keptEvents: Record<string, string[]> = { [plain]: [], [venueHeld]: [], [tenantHeld]: [] }
  for (const tenant of [plain, venueHeld, tenantHeld]) {
    // Both sides of the 30-day boundary, several of each so the purge takes more than one batch.
    for (let i = 0; i < 7; i++) await seedSyncLog(tenant, venue, connection, 31 + i)
    for (let i = 0; i < 2; i++) kept[tenant]?.push(await seedSyncLog(tenant, venue, connection, 29))
    for (let i = 0; i < 4; i++) await seedSecurityEvent(tenant, 91 + i)
    keptEvents[tenant]?.push(await seedSecurityEvent(tenant, 89))
  }
  // Old rows under the venue and the connection hold stay.
  kept[venueHeld]?.push(await seedSyncLog(venueHeld, heldVenue, randomUUID(), 400), await seedSyncLog(venueHeld, randomUUID(), heldConnection, 400))
  // Every row of the held tenant stays.
  kept[tenantHeld] = await ids('sync_logs', tenantHeld)
  keptEvents[tenantHeld] = await ids('security_events', tenantHeld)
  const tenantless = [await seedSecurityEvent(null, 366), await seedSecurityEvent(null, 364)]

  const first = await app.retentionJob.runOnce()
  assert.equal(first.failedTenants, 0)
  assert.ok(first.heldTenants >= 1)
  for (const tenant of [plain, venueHeld, tenantHeld]) {
    assert.deepEqual(await ids('sync_logs', tenant), [...(kept[tenant] ?? [])].sort(), `sync logs of ${tenant === plain ? 'the plain' : tenant === venueHeld ? 'the venue-held' : 'the held'} tenant`)
    assert.deepEqual(await ids('security_events', tenant), [...(keptEvents[tenant] ?? [])].sort())
  }
  const leftTenantless = (await db.adminQuery<{ id: string }>('select id from compliance.security_events where tenant_id is null and id = any($1::uuid[])', [tenantless])).map((r) => r.id)
  assert.deepEqual(leftTenantless, [tenantless[1]], 'events of no tenant follow the default period')

  const run = (await app.inject({ url: '/api/v1/compliance/audit-log?entityType=retention_run', headers: adminOf(plain) })).json().data as Array<{ action: string; after: { syncLogs: number; securityEvents: number } }>
  assert.deepEqual(
    run.map((e) => [e.action, e.after.syncLogs, e.after.securityEvents]),
    [['retention.purged', 7, 4]],
    'one audit entry with the counts',
  )
  const metrics = await scrapeMetrics(app)
  assert.match(metrics, /compliance_retention_purged_total\{[^}]*kind="sync_logs"[^}]*\} [1-9]/)
  assert.match(metrics, /compliance_retention_last_run_timestamp_seconds\{[^}]*\} [1-9]/)

  // At-least-once: the same run again removes nothing more and records nothing more.
  const second = await app.retentionJob.runOnce()
  assert.equal(second.failedTenants, 0)
  for (const tenant of [plain, venueHeld, tenantHeld]) assert.deepEqual(await ids('sync_logs', tenant), [...(kept[tenant] ?? [])].sort())
  assert.equal((await app.inject({ url: '/api/v1/compliance/audit-log?entityType=retention_run', headers: adminOf(plain) })).json().data.length, 1)
})

test('audit entries past the period are sealed, archived to AUDIT_ARCHIVE_DIR and removed; verify crosses the gap, the archive verifies offline, and a hold keeps them', async () => {
  const tenant = randomUUID()
  const held = randomUUID()
  const headers = adminOf(tenant)
  // The chain runs in the order entries arrived: the old ones first (a segment is a stretch from
  // the chain's start that happened before the cutoff), then the policy change, audited now.
  for (const t of [tenant, held]) {
    await appendAudit(t, 5, new Date(Date.now() - 400 * DAY))
    await appendAudit(t, 3, new Date(Date.now() - 366 * DAY))
    await appendAudit(t, 2, new Date(Date.now() - 300 * DAY))
    await app.inject({ method: 'PUT', url: '/api/v1/compliance/retention/policy', headers: adminOf(t), payload: { periods: { auditLog: 365 } } })
  }
  await app.inject({ method: 'POST', url: '/api/v1/compliance/retention/holds', headers: adminOf(held), payload: { scope: 'connection', scopeId: randomUUID(), reason: 'r' } })
  const heldBefore = await auditCount(held)
  const before = await auditCount(tenant)

  await app.retentionJob.runOnce()
  assert.equal(await auditCount(held), heldBefore, 'a hold anywhere in the tenant keeps its whole chain')
  const segments = (await app.inject({ url: '/api/v1/compliance/audit-log/segments', headers })).json().data as Array<{ segmentNo: number; entryCount: number; removedAt: string | null; archiveSha256: string }>
  assert.deepEqual(
    segments.map((s) => [s.segmentNo, s.entryCount, s.removedAt !== null]),
    [[1, 8, true]],
    'exactly the eight entries past 365 days',
  )
  // The two newer entries stay; the policy change, the seal, the removal and the run were audited.
  assert.equal(await auditCount(tenant), before - 8 + 3)
  const files = readdirSync(join(archiveDir, tenant))
  assert.deepEqual(files, ['audit-segment-000001.jsonl'])
  const archiveFile = join(archiveDir, tenant, 'audit-segment-000001.jsonl')

  const verified = (await app.inject({ url: '/api/v1/compliance/audit-log/verify', headers })).json()
  assert.deepEqual([verified.ok, verified.archived, verified.firstBroken], [true, 8, null], 'verify crosses the automatically archived segment')
  const offline = await auditVerify(archiveFile)
  assert.equal(offline.code, 0, offline.stdout)
  assert.match(offline.stdout, /^OK: segment of tenant .*: 8 entries/)

  const lines = readFileSync(archiveFile, 'utf8').split('\n')
  const changedFile = join(scratch, 'changed.jsonl')
  writeFileSync(changedFile, [...lines.slice(0, 3), (lines[3] ?? '').replace('"actorId":"integration-worker"', '"actorId":"someone-else"'), ...lines.slice(4)].join('\n'))
  const changed = await auditVerify(changedFile)
  assert.equal(changed.code, 1, changed.stdout)
  assert.match(changed.stdout, /changed\.jsonl line 4: hash_mismatch: seq \d+ was changed/)

  const again = await app.retentionJob.runOnce()
  assert.equal(again.auditSegments, 0, 'nothing more is past the period')
  assert.equal(readdirSync(join(archiveDir, tenant)).length, 1)

  // The hold released, the next run archives the held tenant too.
  const hold = (await app.inject({ url: '/api/v1/compliance/retention/holds?active=true', headers: adminOf(held) })).json().data[0] as { id: string }
  await app.inject({ method: 'POST', url: `/api/v1/compliance/retention/holds/${hold.id}/release`, headers: adminOf(held) })
  await app.retentionJob.runOnce()
  assert.deepEqual(readdirSync(join(archiveDir, held)), ['audit-segment-000001.jsonl'])
})

test('a changed row is never archived away: the seal refuses the broken chain and nothing is removed', async () => {
  const tenant = randomUUID()
  await appendAudit(tenant, 4, new Date(Date.now() - 400 * DAY))
  await app.inject({ method: 'PUT', url: '/api/v1/compliance/retention/policy', headers: adminOf(tenant), payload: { periods: { auditLog: 365 } } })
  await db.adminQuery(`alter table compliance.audit_log disable trigger user;
    update compliance.audit_log set after = '{"status":"forged"}' where tenant_id = '${tenant}' and seq = (select min(seq) + 1 from compliance.audit_log where tenant_id = '${tenant}');
    alter table compliance.audit_log enable trigger user`)
  const before = await auditCount(tenant)
  const result = await app.retentionJob.runOnce()
  assert.ok(result.failedTenants >= 1)
  assert.equal(await auditCount(tenant), before)
  const verified = (await app.inject({ url: '/api/v1/compliance/audit-log/verify', headers: adminOf(tenant) })).json()
  assert.deepEqual([verified.ok, verified.firstBroken.reason], [false, 'hash_mismatch'])
})

test('a segment sealed but never removed (a run cut short, or an admin seal) is archived and removed by the next run once past the period', async () => {
  const tenant = randomUUID()
  const headers = adminOf(tenant)
  await appendAudit(tenant, 3, new Date(Date.now() - 500 * DAY))
  // An admin seals only what is past the tenant's period, so the policy comes first.
  await app.inject({ method: 'PUT', url: '/api/v1/compliance/retention/policy', headers, payload: { periods: { auditLog: 365 } } })
  const sealed = await app.inject({ method: 'POST', url: '/api/v1/compliance/audit-log/segments', headers, payload: { before: new Date(Date.now() - 400 * DAY).toISOString() } })
  assert.equal(sealed.statusCode, 201, sealed.body)
  await app.retentionJob.runOnce()
  const segments = (await app.inject({ url: '/api/v1/compliance/audit-log/segments', headers })).json().data as Array<{ segmentNo: number; removedAt: string | null }>
  assert.deepEqual(
    segments.map((s) => [s.segmentNo, s.removedAt !== null]),
    [[1, true]],
    'the pending segment finished, and nothing else was past the period',
  )
  assert.deepEqual(readdirSync(join(archiveDir, tenant)), ['audit-segment-000001.jsonl'])
  assert.equal((await auditVerify(join(archiveDir, tenant, 'audit-segment-000001.jsonl'))).code, 0)
})

test("the internal plan answers integration-service (signed, retention:read) with each tenant's periods and holds, and refuses other callers", async () => {
  const tenant = randomUUID()
  const venue = randomUUID()
  await app.inject({ method: 'PUT', url: '/api/v1/compliance/retention/policy', headers: adminOf(tenant), payload: { periods: { webhookPayloads: 7 } } })
  await app.inject({ method: 'POST', url: '/api/v1/compliance/retention/holds', headers: adminOf(tenant), payload: { scope: 'venue', scopeId: venue, reason: 'r' } })
  const unknown = randomUUID()
  const body = JSON.stringify({ tenantIds: [tenant, unknown] })
  const signed = (service: keyof typeof TEST_INTERNAL_KEYS) => ({
    ...(signRequest({ service, keyId: 'k1', secret: TEST_INTERNAL_KEYS[service].k1, method: 'POST', pathWithQuery: '/internal/retention/plan', body }) as unknown as Record<string, string>),
    'content-type': 'application/json',
  })
  const answer = await app.inject({ method: 'POST', url: '/internal/retention/plan', headers: signed('integration-service'), payload: body })
  assert.equal(answer.statusCode, 200, answer.body)
  const [mine, other] = answer.json().data as Array<{ tenantId: string; policyVersion: number; periods: { webhookPayloads: number; auditLog: number }; tenantHeld: boolean; heldVenueIds: string[] }>
  assert.deepEqual([mine?.tenantId, mine?.policyVersion, mine?.periods.webhookPayloads, mine?.tenantHeld, mine?.heldVenueIds], [tenant, 1, 7, false, [venue]])
  assert.deepEqual([other?.tenantId, other?.policyVersion, other?.periods.auditLog], [unknown, 0, 6 * 365], 'a tenant without a policy gets the defaults')

  const unsigned = await app.inject({ method: 'POST', url: '/internal/retention/plan', headers: { 'content-type': 'application/json' }, payload: body })
  assert.equal(unsigned.statusCode, 401)
  const venueService = await app.inject({ method: 'POST', url: '/internal/retention/plan', headers: signed('venue-service'), payload: body })
  assert.equal(venueService.statusCode, 403, 'venue-service holds no retention:read')
})
