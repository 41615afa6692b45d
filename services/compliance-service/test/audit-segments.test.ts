import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash, randomUUID } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { AuditEventInput } from '@hub/contracts'
import { generateSigningKeyRingJson } from '@hub/crypto'
import { createFastify, createKnex } from '@hub/service-kit'
import { bearer, createTestDatabase, deleteRedisPrefix, testRedisPrefix, testServiceEnv, testToken } from '@hub/service-kit/testing'
import complianceService from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { COMPLIANCE_SCHEMA } from '../src/db/schema.ts'

const ROOT = new URL('../../..', import.meta.url).pathname
const CLI = join(ROOT, 'services/compliance-service/src/cli/verify-audit-export.ts')
const db = await createTestDatabase([COMPLIANCE_SCHEMA])
const prefix = testRedisPrefix()
const dir = mkdtempSync(join(tmpdir(), 'hub-audit-segments-'))
const app = createFastify({ service: 'compliance-service', logLevel: (process.env.TEST_LOG_LEVEL ?? 'silent') as 'silent' })
await app.register(complianceService, {
  config: loadConfig({ ...testServiceEnv(prefix), DATABASE_URL: db.urlFor(COMPLIANCE_SCHEMA.appRole), SYNC_LOG_CONSUMER: 'false', AUDIT_DIGEST_INTERVAL_MS: '0', AUDIT_SIGNING_KEYS: generateSigningKeyRingJson([1]) }),
})
await app.ready()
test.after(async () => {
  await app.close()
  await db.drop()
  await deleteRedisPrefix(prefix)
})

const adminOf = (tenantId: string) => bearer(testToken({ tenantId, roles: ['admin'] }))
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

async function append(tenantId: string, count: number, occurredAt: Date): Promise<void> {
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

const count = async (tenantId: string) => Number((await db.adminQuery<{ n: string }>('select count(*) as n from compliance.audit_log where tenant_id = $1', [tenantId]))[0]?.n)
const DAY = 86_400_000
const seal = (tenantId: string, before: Date) => app.inject({ method: 'POST', url: '/api/v1/compliance/audit-log/segments', headers: adminOf(tenantId), payload: { before: before.toISOString() } })
const remove = (tenantId: string, segmentNo: number, archiveSha256: string) => app.inject({ method: 'POST', url: `/api/v1/compliance/audit-log/segments/${segmentNo}/remove`, headers: adminOf(tenantId), payload: { archiveSha256 } })

async function keepAuditFor(tenantId: string, days: number): Promise<void> {
  const response = await app.inject({ method: 'PUT', url: '/api/v1/compliance/retention/policy', headers: adminOf(tenantId), payload: { periods: { auditLog: days } } })
  assert.equal(response.statusCode, 200, response.body)
}

async function placeHold(tenantId: string, scope: 'tenant' | 'venue'): Promise<string> {
  const response = await app.inject({ method: 'POST', url: '/api/v1/compliance/retention/holds', headers: adminOf(tenantId), payload: { scope, ...(scope === 'venue' ? { scopeId: randomUUID() } : {}), reason: 'Matter 7' } })
  assert.equal(response.statusCode, 201, response.body)
  return response.json().id as string
}

test('a sealed segment is archived, removed only through its archive hash, verify crosses the gap, and the archive verifies offline', async () => {
  const tenant = randomUUID()
  // Only entries past the tenant's audit-log period are sealed: these are, under a 365-day policy.
  await append(tenant, 4, new Date(Date.now() - 500 * DAY))
  await append(tenant, 3, new Date(Date.now() - 400 * DAY))
  await keepAuditFor(tenant, 365)
  const headers = adminOf(tenant)

  const sealed = await seal(tenant, new Date(Date.now() - 450 * DAY))
  assert.equal(sealed.statusCode, 201, sealed.body)
  const segment = sealed.json() as { segmentNo: number; fromSeq: string; throughSeq: string; entryCount: number; archiveSha256: string | null; digestNo: number; removedAt: string | null }
  assert.deepEqual([segment.segmentNo, segment.entryCount, segment.removedAt, segment.archiveSha256], [1, 4, null, null], 'only the entries that happened before `before`')
  const nothing = await seal(tenant, new Date(Date.now() - 450 * DAY))
  assert.deepEqual([nothing.statusCode, nothing.json().code], [409, 'AUDIT_NOTHING_TO_SEAL'])

  // Sealed is not removed: no other DELETE gets through, not even the owner's or a superuser's
  // with the removal flag set by hand for a row outside any segment.
  const sealedRow = (await db.adminQuery<{ seq: string }>('select seq from compliance.audit_log where tenant_id = $1 order by seq limit 1', [tenant]))[0]?.seq
  const unsealedRow = (await db.adminQuery<{ seq: string }>('select seq from compliance.audit_log where tenant_id = $1 order by seq desc limit 1', [tenant]))[0]?.seq
  const asService = createKnex(db.urlFor(COMPLIANCE_SCHEMA.appRole))
  try {
    await assert.rejects(
      asService.transaction(async (trx) => {
        await trx.raw("select set_config('app.tenant_id', ?, true), set_config('compliance.removing_segment', ?, true)", [tenant, `${tenant}:1`])
        await trx.raw(`delete from compliance.audit_log where seq = ${sealedRow}`)
      }),
      (error: { code?: string }) => error.code === '42501',
      'the service role has no DELETE at all',
    )
  } finally {
    await asService.destroy()
  }
  await assert.rejects(db.adminQuery(`delete from compliance.audit_log where seq = ${sealedRow}`), /append-only/, 'a superuser without the flag')
  await assert.rejects(db.adminQuery(`select set_config('compliance.removing_segment', '${tenant}:1', true); delete from compliance.audit_log where seq = ${unsealedRow}`), /append-only/, 'the flag covers sealed rows only')
  assert.equal(await count(tenant), 9, 'seven entries and the audit events of the policy and the seal')

  const archive = await app.inject({ url: `/api/v1/compliance/audit-log/segments/${segment.segmentNo}/archive`, headers })
  assert.equal(archive.statusCode, 200, archive.body)
  const archiveSha256 = sha256(archive.body)
  const archiveFile = join(dir, 'segment-1.jsonl')
  writeFileSync(archiveFile, archive.body)

  const wrong = await app.inject({ method: 'POST', url: `/api/v1/compliance/audit-log/segments/${segment.segmentNo}/remove`, headers, payload: { archiveSha256: sha256('not the archive') } })
  assert.deepEqual([wrong.statusCode, wrong.json().code], [409, 'AUDIT_ARCHIVE_MISMATCH'])
  assert.equal(await count(tenant), 9)
  const removed = await app.inject({ method: 'POST', url: `/api/v1/compliance/audit-log/segments/${segment.segmentNo}/remove`, headers, payload: { archiveSha256 } })
  assert.equal(removed.statusCode, 200, removed.body)
  assert.equal(removed.json().removedEntries, 4)
  assert.ok(removed.json().segment.removedAt)
  assert.equal(removed.json().segment.archiveSha256, archiveSha256, 'the archive is the bytes that were sealed')
  assert.equal(await count(tenant), 6, 'the four sealed entries are gone; the removal itself is audited')
  const again = await app.inject({ method: 'POST', url: `/api/v1/compliance/audit-log/segments/${segment.segmentNo}/remove`, headers, payload: { archiveSha256 } })
  assert.deepEqual([again.statusCode, again.json().removedEntries], [200, 0], 'a repeated removal changes nothing')
  const gone = await app.inject({ url: `/api/v1/compliance/audit-log/segments/${segment.segmentNo}/archive`, headers })
  assert.deepEqual([gone.statusCode, gone.json().code], [409, 'AUDIT_SEGMENT_REMOVED'])

  const verified = await app.inject({ url: '/api/v1/compliance/audit-log/verify', headers })
  assert.deepEqual({ ...(verified.json() as Record<string, unknown>), headHash: undefined }, { ok: true, checked: 6, archived: 4, headHash: undefined, firstBroken: null }, 'verify crosses the removed segment by its checkpoint')
  const listed = await app.inject({ url: '/api/v1/compliance/audit-log/segments', headers })
  assert.deepEqual(
    listed.json().data.map((s: { segmentNo: number; removedAt: string | null }) => [s.segmentNo, s.removedAt !== null]),
    [[1, true]],
  )
  const actions = (await app.inject({ url: '/api/v1/compliance/audit-log?entityType=audit_segment', headers })).json().data.map((e: { action: string }) => e.action)
  assert.deepEqual(actions, ['audit_segment.removed', 'audit_segment.sealed'])

  // The archive, offline.
  const offline = await auditVerify(archiveFile)
  assert.equal(offline.code, 0, offline.stdout)
  assert.match(offline.stdout, /^OK: segment of tenant .*: 4 entries .* 1 signed digests verified, signed through seq/)

  // The next segment starts from the first one's checkpoint, and its archive says so.
  const second = await seal(tenant, new Date(Date.now() - 366 * DAY))
  assert.equal(second.statusCode, 201, second.body)
  assert.equal(second.json().entryCount, 3)
  const secondArchive = await app.inject({ url: `/api/v1/compliance/audit-log/segments/2/archive`, headers })
  assert.match(secondArchive.body.split('\n')[1] ?? '', /^\{"type":"checkpoint"/)
  const secondFile = join(dir, 'segment-2.jsonl')
  writeFileSync(secondFile, secondArchive.body)
  const secondOffline = await auditVerify(secondFile)
  assert.equal(secondOffline.code, 0, secondOffline.stdout)

  // A JSON-lines export of what is left starts from the checkpoint, and verifies.
  const exported = await app.inject({ url: `/api/v1/compliance/audit-log/export?format=jsonl&from=${new Date(Date.now() - 3_600_000).toISOString()}&to=${new Date(Date.now() + 3_600_000).toISOString()}`, headers })
  assert.match(exported.body.split('\n')[1] ?? '', /^\{"type":"checkpoint"/)
  const exportFile = join(dir, 'after-gap.jsonl')
  writeFileSync(exportFile, exported.body)
  const exportOffline = await auditVerify(exportFile)
  assert.equal(exportOffline.code, 0, exportOffline.stdout)
})

test('one changed line of an archived segment fails the offline verifier, which names the line', async () => {
  const tenant = randomUUID()
  const headers = adminOf(tenant)
  await append(tenant, 5, new Date(Date.now() - 400 * DAY))
  await keepAuditFor(tenant, 365)
  const sealed = await seal(tenant, new Date(Date.now() - 366 * DAY))
  assert.equal(sealed.statusCode, 201, sealed.body)
  const archive = (await app.inject({ url: '/api/v1/compliance/audit-log/segments/1/archive', headers })).body
  const removed = await app.inject({ method: 'POST', url: '/api/v1/compliance/audit-log/segments/1/remove', headers, payload: { archiveSha256: sha256(archive) } })
  assert.equal(removed.json().removedEntries, 5)

  const lines = archive.split('\n')
  assert.match(lines[2] ?? '', /^\{"type":"entry"/, 'line 1 is the header, the entries follow (no checkpoint before a first segment)')
  const file = join(dir, 'changed.jsonl')
  writeFileSync(file, [...lines.slice(0, 2), (lines[2] ?? '').replace('"actorId":"integration-worker"', '"actorId":"someone-else"'), ...lines.slice(3)].join('\n'))
  const changed = await auditVerify(file)
  assert.equal(changed.code, 1, changed.stdout)
  assert.match(changed.stdout, /^FAILED: .*changed\.jsonl line 3: hash_mismatch: seq \d+ was changed/)

  const dropped = join(dir, 'dropped.jsonl')
  writeFileSync(dropped, [...lines.slice(0, 3), ...lines.slice(4)].join('\n'))
  const droppedResult = await auditVerify(dropped)
  assert.equal(droppedResult.code, 1)
  assert.match(droppedResult.stdout, /line 4: chain_broken: seq \d+ does not link to the entry before it/, 'a removed line is named by the line after it')

  // The checkpoint itself, changed behind the database's back: verify says where the gap stops fitting.
  await db.adminQuery(`alter table compliance.audit_segments disable trigger audit_segments_append_only;
    update compliance.audit_segments set first_prev_hash = '${'1'.repeat(64)}' where tenant_id = '${tenant}' and segment_no = 1;
    alter table compliance.audit_segments enable trigger audit_segments_append_only`)
  const verified = (await app.inject({ url: '/api/v1/compliance/audit-log/verify', headers })).json()
  assert.equal(verified.ok, false)
  assert.equal(verified.firstBroken.reason, 'checkpoint_mismatch')
  assert.equal(verified.firstBroken.seq, sealed.json().fromSeq)
})

test("sealing refuses a `before` in the future and entries still inside the tenant's audit-log period; removal checks the period again", async () => {
  const tenant = randomUUID()
  await append(tenant, 3, new Date(Date.now() - 400 * DAY))
  await append(tenant, 2, new Date())
  const ahead = await seal(tenant, new Date(Date.now() + 3_600_000))
  assert.deepEqual([ahead.statusCode, ahead.json().code], [400, 'AUDIT_SEAL_BEFORE_IN_FUTURE'], ahead.body)
  assert.match(String(ahead.headers['content-type']), /^application\/problem\+json/)
  const young = await seal(tenant, new Date(Date.now() - 366 * DAY))
  assert.deepEqual([young.statusCode, young.json().code, young.json().retentionDays], [409, 'AUDIT_RETENTION_NOT_ELAPSED', 6 * 365], 'the default period is six years')
  assert.match(String(young.headers['content-type']), /^application\/problem\+json/)
  assert.equal(await count(tenant), 5, 'nothing sealed, nothing audited')

  await keepAuditFor(tenant, 365)
  const sealed = await seal(tenant, new Date(Date.now() - 366 * DAY))
  assert.deepEqual([sealed.statusCode, sealed.json().entryCount], [201, 3], sealed.body)
  const archive = await app.inject({ url: '/api/v1/compliance/audit-log/segments/1/archive', headers: adminOf(tenant) })
  assert.equal(archive.statusCode, 200, archive.body)

  // The period lengthened since the seal: its entries are inside it again, and stay.
  await keepAuditFor(tenant, 500)
  const before = await count(tenant)
  const early = await remove(tenant, 1, sha256(archive.body))
  assert.deepEqual([early.statusCode, early.json().code, early.json().retentionDays], [409, 'AUDIT_RETENTION_NOT_ELAPSED', 500], early.body)
  assert.equal(await count(tenant), before)
  await keepAuditFor(tenant, 365)
  const removed = await remove(tenant, 1, sha256(archive.body))
  assert.deepEqual([removed.statusCode, removed.json().removedEntries], [200, 3], removed.body)
})

test('while any legal hold is active in the tenant nothing is sealed or removed, and the hold released, removal goes on', async () => {
  // The audit's reproduction: a tenant hold, entries of a moment ago, `before` an hour ahead.
  const held = randomUUID()
  await placeHold(held, 'tenant')
  await append(held, 3, new Date())
  const ahead = await seal(held, new Date(Date.now() + 3_600_000))
  assert.equal(ahead.statusCode, 400, ahead.body)
  const now = await seal(held, new Date())
  assert.deepEqual([now.statusCode, now.json().code], [409, 'AUDIT_LEGAL_HOLD_ACTIVE'], now.body)
  assert.match(String(now.headers['content-type']), /^application\/problem\+json/)
  assert.deepEqual((await app.inject({ url: '/api/v1/compliance/audit-log/segments', headers: adminOf(held) })).json().data, [])

  // A segment sealed before the hold stays while a hold on one venue is active.
  const tenant = randomUUID()
  await append(tenant, 4, new Date(Date.now() - 400 * DAY))
  await keepAuditFor(tenant, 365)
  const sealed = await seal(tenant, new Date(Date.now() - 366 * DAY))
  assert.equal(sealed.statusCode, 201, sealed.body)
  const archive = await app.inject({ url: '/api/v1/compliance/audit-log/segments/1/archive', headers: adminOf(tenant) })
  const hold = await placeHold(tenant, 'venue')
  const before = await count(tenant)
  const refused = await remove(tenant, 1, sha256(archive.body))
  assert.deepEqual([refused.statusCode, refused.json().code], [409, 'AUDIT_LEGAL_HOLD_ACTIVE'], refused.body)
  await append(tenant, 2, new Date(Date.now() - 400 * DAY))
  const again = await seal(tenant, new Date(Date.now() - 366 * DAY))
  assert.deepEqual([again.statusCode, again.json().code], [409, 'AUDIT_LEGAL_HOLD_ACTIVE'], again.body)
  assert.equal(await count(tenant), before + 2, 'every entry stays')

  const released = await app.inject({ method: 'POST', url: `/api/v1/compliance/retention/holds/${hold}/release`, headers: adminOf(tenant) })
  assert.equal(released.statusCode, 200, released.body)
  const removed = await remove(tenant, 1, sha256(archive.body))
  assert.deepEqual([removed.statusCode, removed.json().removedEntries], [200, 4], removed.body)
})

test("removal asks for the archive's SHA-256, which only the archive gives: the seal's answer, the list and the audit log show it only once the segment is removed", async () => {
  const tenant = randomUUID()
  const headers = adminOf(tenant)
  await append(tenant, 4, new Date(Date.now() - 400 * DAY))
  await keepAuditFor(tenant, 365)
  const sealed = await seal(tenant, new Date(Date.now() - 366 * DAY))
  assert.equal(sealed.statusCode, 201, sealed.body)
  assert.equal(sealed.json().archiveSha256, null)
  const listed = await app.inject({ url: '/api/v1/compliance/audit-log/segments', headers })
  assert.equal(listed.json().data[0].archiveSha256, null)
  const logged = await app.inject({ url: '/api/v1/compliance/audit-log?limit=500', headers })
  const digests = await app.inject({ url: '/api/v1/compliance/audit-log/digests', headers })
  // No hash anything but the archive published works as the proof.
  const published = [sealed.body, listed.body, logged.body, digests.body].join('\n')
  const candidates = [...new Set(published.match(/[0-9a-f]{64}/g) ?? [])]
  assert.ok(candidates.length > 5)
  for (const candidate of candidates) {
    const refused = await remove(tenant, 1, candidate)
    assert.deepEqual([refused.statusCode, refused.json().code], [409, 'AUDIT_ARCHIVE_MISMATCH'], candidate)
  }
  assert.equal(await count(tenant), 6, 'four entries, the policy change and the seal')

  const archive = await app.inject({ url: '/api/v1/compliance/audit-log/segments/1/archive', headers })
  const proof = sha256(archive.body)
  assert.ok(!published.includes(proof))
  const removed = await remove(tenant, 1, proof)
  assert.deepEqual([removed.statusCode, removed.json().removedEntries, removed.json().segment.archiveSha256], [200, 4, proof], removed.body)
  const after = await app.inject({ url: '/api/v1/compliance/audit-log/segments', headers })
  assert.equal(after.json().data[0].archiveSha256, proof, 'once removed, which archive it was is public')
  const audited = (await app.inject({ url: '/api/v1/compliance/audit-log?entityType=audit_segment', headers })).json().data as Array<{ action: string; after: { archiveSha256?: string } }>
  assert.deepEqual(
    audited.map((entry) => [entry.action, entry.after.archiveSha256 ?? null]),
    [
      ['audit_segment.removed', proof],
      ['audit_segment.sealed', null],
    ],
  )
})

test('remove_sealed_segment() itself refuses entries younger than the 365-day minimum, and anything while a legal hold is active', async () => {
  const tenant = randomUUID()
  await append(tenant, 2, new Date(Date.now() - 30 * DAY))
  // Sealed as if years had passed (the store takes its clock as an argument): only the database stands in the way.
  const later = new Date(Date.now() + 3000 * DAY)
  await app.auditDigestJob.storeKeys()
  const sealed = await app.db.withTenant(tenant, (trx) => app.auditSegmentStore.seal(trx, tenant, new Date(Date.now() - 29 * DAY).toISOString(), 100, later))
  assert.equal(sealed?.entryCount, 2)
  const { archiveSha256 } = await app.db.withTenant(tenant, (trx) => app.auditSegmentStore.archive(trx, 1))
  const removeAsService = async () => {
    const asService = createKnex(db.urlFor(COMPLIANCE_SCHEMA.appRole))
    try {
      return await asService.transaction(async (trx) => {
        await trx.raw("select set_config('app.tenant_id', ?, true)", [tenant])
        return (await trx.raw<{ rows: Array<{ removed: number }> }>('select compliance.remove_sealed_segment(?, 1, ?) as removed', [tenant, archiveSha256])).rows[0]?.removed
      })
    } finally {
      await asService.destroy()
    }
  }
  await assert.rejects(removeAsService(), (error: { code?: string; message?: string }) => error.code === '55006' && /365-day/.test(String(error.message)))
  await placeHold(tenant, 'venue')
  await assert.rejects(removeAsService(), (error: { code?: string; message?: string }) => error.code === '55006' && /legal hold/.test(String(error.message)))
  assert.equal(await count(tenant), 3, 'both entries stay, and the hold was audited')
})
