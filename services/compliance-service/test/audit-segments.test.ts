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

test('a sealed segment is archived, removed only through its archive hash, verify crosses the gap, and the archive verifies offline', async () => {
  const tenant = randomUUID()
  const old = new Date(Date.now() - 2 * 86_400_000)
  await append(tenant, 4, old)
  await append(tenant, 3, new Date())
  const headers = adminOf(tenant)

  const sealed = await app.inject({ method: 'POST', url: '/api/v1/compliance/audit-log/segments', headers, payload: { before: new Date(Date.now() - 86_400_000).toISOString() } })
  assert.equal(sealed.statusCode, 201, sealed.body)
  const segment = sealed.json() as { segmentNo: number; fromSeq: string; throughSeq: string; entryCount: number; archiveSha256: string; digestNo: number; removedAt: string | null }
  assert.deepEqual([segment.segmentNo, segment.entryCount, segment.removedAt], [1, 4, null], 'only the entries that happened before `before`')
  const nothing = await app.inject({ method: 'POST', url: '/api/v1/compliance/audit-log/segments', headers, payload: { before: new Date(Date.now() - 86_400_000).toISOString() } })
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
  assert.equal(await count(tenant), 8, 'seven entries and the audit event of the seal')

  const archive = await app.inject({ url: `/api/v1/compliance/audit-log/segments/${segment.segmentNo}/archive`, headers })
  assert.equal(archive.statusCode, 200, archive.body)
  assert.equal(sha256(archive.body), segment.archiveSha256, 'the archive is the bytes that were sealed')
  const archiveFile = join(dir, 'segment-1.jsonl')
  writeFileSync(archiveFile, archive.body)

  const wrong = await app.inject({ method: 'POST', url: `/api/v1/compliance/audit-log/segments/${segment.segmentNo}/remove`, headers, payload: { archiveSha256: sha256('not the archive') } })
  assert.deepEqual([wrong.statusCode, wrong.json().code], [409, 'AUDIT_ARCHIVE_MISMATCH'])
  assert.equal(await count(tenant), 8)
  const removed = await app.inject({ method: 'POST', url: `/api/v1/compliance/audit-log/segments/${segment.segmentNo}/remove`, headers, payload: { archiveSha256: segment.archiveSha256 } })
  assert.equal(removed.statusCode, 200, removed.body)
  assert.equal(removed.json().removedEntries, 4)
  assert.ok(removed.json().segment.removedAt)
  assert.equal(await count(tenant), 5, 'the four sealed entries are gone; the removal itself is audited')
  const again = await app.inject({ method: 'POST', url: `/api/v1/compliance/audit-log/segments/${segment.segmentNo}/remove`, headers, payload: { archiveSha256: segment.archiveSha256 } })
  assert.deepEqual([again.statusCode, again.json().removedEntries], [200, 0], 'a repeated removal changes nothing')
  const gone = await app.inject({ url: `/api/v1/compliance/audit-log/segments/${segment.segmentNo}/archive`, headers })
  assert.deepEqual([gone.statusCode, gone.json().code], [409, 'AUDIT_SEGMENT_REMOVED'])

  const verified = await app.inject({ url: '/api/v1/compliance/audit-log/verify', headers })
  assert.deepEqual({ ...(verified.json() as Record<string, unknown>), headHash: undefined }, { ok: true, checked: 5, archived: 4, headHash: undefined, firstBroken: null }, 'verify crosses the removed segment by its checkpoint')
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
  const second = await app.inject({ method: 'POST', url: '/api/v1/compliance/audit-log/segments', headers, payload: { before: new Date(Date.now() + 3_600_000).toISOString() } })
  assert.equal(second.statusCode, 201, second.body)
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
  await append(tenant, 5, new Date(Date.now() - 86_400_000))
  const sealed = await app.inject({ method: 'POST', url: '/api/v1/compliance/audit-log/segments', headers, payload: { before: new Date().toISOString() } })
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
