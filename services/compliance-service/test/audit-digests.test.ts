import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import type { AuditEventInput } from '@hub/contracts'
import { generateSigningKeyRingJson } from '@hub/crypto'
import { createFastify, type ServiceInstance } from '@hub/service-kit'
import { bearer, createTestDatabase, deleteRedisPrefix, testRedisPrefix, testServiceEnv, testToken } from '@hub/service-kit/testing'
import complianceService from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { COMPLIANCE_SCHEMA } from '../src/db/schema.ts'
import { chainHash, type AuditLogRow } from '../src/plugins/app/audit-log-store.ts'

const ROOT = new URL('../../..', import.meta.url).pathname
const CLI = join(ROOT, 'services/compliance-service/src/cli/verify-audit-export.ts')
const db = await createTestDatabase([COMPLIANCE_SCHEMA])
const prefix = testRedisPrefix()
const common = testServiceEnv(prefix)
const apps: ServiceInstance[] = []
const dir = mkdtempSync(join(tmpdir(), 'hub-audit-digests-'))
test.after(async () => {
  await Promise.all(apps.map((app) => app.close().catch(() => undefined)))
  await db.drop()
  await deleteRedisPrefix(prefix)
})

async function startCompliance(extra: Record<string, string>): Promise<ServiceInstance> {
  const app = createFastify({ service: 'compliance-service', logLevel: 'silent' })
  await app.register(complianceService, { config: loadConfig({ ...common, DATABASE_URL: db.urlFor(COMPLIANCE_SCHEMA.appRole), SYNC_LOG_CONSUMER: 'false', AUDIT_DIGEST_INTERVAL_MS: '0', ...extra }) })
  await app.ready()
  apps.push(app)
  return app
}

const adminOf = (tenantId: string) => bearer(testToken({ tenantId, roles: ['admin'] }))

async function append(app: ServiceInstance, tenantId: string, count: number, occurredAt = new Date()): Promise<void> {
  const events: AuditEventInput[] = Array.from({ length: count }, (_, i) => ({
    id: randomUUID(),
    tenantId,
    source: 'venue-service',
    actorType: 'user',
    actorId: 'auditor-1',
    action: 'venue.updated',
    entityType: 'venue',
    entityId: randomUUID(),
    before: { name: `Hall ${i}` },
    after: { name: `Hall ${i} renamed`, nested: { capacity: i } },
    requestId: null,
    ip: '203.0.113.7',
    occurredAt: occurredAt.toISOString(),
  }))
  await app.db.withTenant(tenantId, (trx) => app.auditLogStore.append(trx, tenantId, events))
}

async function exportFile(app: ServiceInstance, tenantId: string, name: string, from = new Date(Date.now() - 3_600_000).toISOString(), to = new Date(Date.now() + 3_600_000).toISOString()): Promise<string> {
  const response = await app.inject({ url: `/api/v1/compliance/audit-log/export?format=jsonl&from=${from}&to=${to}`, headers: adminOf(tenantId) })
  assert.equal(response.statusCode, 200, response.body)
  assert.match(String(response.headers['content-type']), /^application\/x-ndjson/)
  const file = join(dir, name)
  writeFileSync(file, response.body)
  return file
}

/** The CLI as an auditor runs it: a separate process with no database settings at all. */
async function auditVerify(...args: string[]): Promise<{ code: number; stdout: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(DATABASE|PG)/.test(name)))
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, env })
    return { code: 0, stdout }
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string }
    return { code: failed.code ?? -1, stdout: `${failed.stdout ?? ''}${failed.stderr ?? ''}` }
  }
}

const disableTriggers = 'alter table compliance.audit_log disable trigger audit_log_no_update_or_delete'
const enableTriggers = 'alter table compliance.audit_log enable trigger audit_log_no_update_or_delete'
const rows = (tenantId: string) => db.adminQuery<AuditLogRow>('select * from compliance.audit_log where tenant_id = $1 order by seq', [tenantId])

test('a row changed by a superuser, or a chain rewritten from it, is found by the offline verifier, naming the line', async () => {
  const app = await startCompliance({ AUDIT_SIGNING_KEYS: generateSigningKeyRingJson([1]) })
  const tenant = randomUUID()
  await append(app, tenant, 5)
  const run = await app.auditDigestJob.runOnce()
  assert.ok(run.signed >= 1 && run.failed === 0, JSON.stringify(run))
  await append(app, tenant, 3)
  const signed = await app.inject({ method: 'POST', url: '/api/v1/compliance/audit-log/digests', headers: adminOf(tenant) })
  assert.equal(signed.statusCode, 201, signed.body)
  assert.equal(signed.json().digestNo, 2)
  const again = await app.inject({ method: 'POST', url: '/api/v1/compliance/audit-log/digests', headers: adminOf(tenant) })
  assert.deepEqual([again.statusCode, again.json().code], [409, 'AUDIT_HEAD_ALREADY_SIGNED'], 'an unchanged head is not signed twice')
  const listed = await app.inject({ url: '/api/v1/compliance/audit-log/digests?limit=1', headers: adminOf(tenant) })
  assert.deepEqual(
    listed.json().data.map((d: { digestNo: number }) => d.digestNo),
    [2],
  )
  assert.equal(
    listed.json().data[0].previousDigestHash,
    (await app.inject({ url: `/api/v1/compliance/audit-log/digests?cursor=${encodeURIComponent(listed.json().nextCursor)}`, headers: adminOf(tenant) })).json().data[0].digestHash,
    'each digest links the one before',
  )
  const otherTenant = await app.inject({ url: '/api/v1/compliance/audit-log/digests', headers: adminOf(randomUUID()) })
  assert.deepEqual(otherTenant.json().data, [], "another tenant sees none of this tenant's digests")

  const keys = await app.inject({ url: '/api/v1/compliance/audit-log/signing-keys' })
  assert.equal(keys.statusCode, 200, 'the public keys need no token')
  const keysFile = join(dir, 'keys-1.json')
  writeFileSync(keysFile, keys.body)

  const clean = await auditVerify(await exportFile(app, tenant, 'clean.jsonl'), '--keys', keysFile)
  assert.equal(clean.code, 0, clean.stdout)
  assert.match(clean.stdout, /^OK: export of tenant .*: 8 entries .* 2 signed digests verified, signed through seq \d+/)

  // A superuser disables the triggers and changes the third entry.
  const [, , third] = await rows(tenant)
  assert.ok(third)
  await db.adminQuery(`${disableTriggers}; update compliance.audit_log set after = '{"name":"Forged"}' where seq = ${third.seq}; ${enableTriggers}`)
  const tampered = await auditVerify(await exportFile(app, tenant, 'tampered.jsonl'), '--keys', keysFile)
  assert.equal(tampered.code, 1, tampered.stdout)
  assert.match(tampered.stdout, new RegExp(`^FAILED: .*tampered\\.jsonl line 4: hash_mismatch: seq ${third.seq} was changed`), 'line 1 is the header, so the third entry is line 4')

  // Smarter: the superuser recomputes every hash from the changed row on. The database's own
  // verify is fooled; the digest signed before the rewrite is not.
  let prev = third.prev_hash
  const updates: string[] = []
  for (const row of (await rows(tenant)).slice(2)) {
    const hash = chainHash(prev, row)
    updates.push(`update compliance.audit_log set prev_hash = '${prev}', hash = '${hash}' where seq = ${row.seq}`)
    prev = hash
  }
  await db.adminQuery([disableTriggers, ...updates, enableTriggers].join(';\n'))
  // The database-side verify recomputes a consistent chain, but its head is no longer the one the
  // newest digest signed; the offline verifier names where the rewrite started.
  const newest = (await rows(tenant))[7]
  const online = await app.inject({ url: '/api/v1/compliance/audit-log/verify', headers: adminOf(tenant) })
  assert.deepEqual([online.json().ok, online.json().checked, online.json().firstBroken?.reason, online.json().firstBroken?.seq, online.json().firstBroken?.digestNo], [false, 8, 'digest_mismatch', newest?.seq, 2])
  const fifth = (await rows(tenant))[4]
  assert.ok(fifth)
  const rewritten = await auditVerify(await exportFile(app, tenant, 'rewritten.jsonl'), '--keys', keysFile)
  assert.equal(rewritten.code, 1, rewritten.stdout)
  assert.match(rewritten.stdout, new RegExp(`line 6: digest_mismatch: seq ${fifth.seq} is not what digest #1 \\(line \\d+, signed [^)]+\\) signed: the chain was rewritten at or before this entry`))

  // A forged digest (signature kept, head changed to the rewritten one) fails its signature.
  const forgedFile = await exportFile(app, tenant, 'forged.jsonl')
  const text = readFileSync(forgedFile, 'utf8').split('\n')
  const digestLine = text.findIndex((line) => line.includes('"type":"digest"') && line.includes('"digestNo":1'))
  const digest = JSON.parse(text[digestLine] ?? '{}') as Record<string, unknown>
  text[digestLine] = JSON.stringify({ ...digest, headHash: fifth.hash })
  writeFileSync(forgedFile, text.join('\n'))
  const forged = await auditVerify(forgedFile, '--keys', keysFile)
  assert.equal(forged.code, 1)
  assert.match(forged.stdout, new RegExp(`line ${digestLine + 1}: bad_signature`))
})

test('entries deleted from the end of the chain behind the database fail verify and the offline verifier, through the newest signed digest', async () => {
  const app = await startCompliance({ AUDIT_SIGNING_KEYS: generateSigningKeyRingJson([1]) })
  const tenant = randomUUID()
  await append(app, tenant, 4)
  const signed = await app.inject({ method: 'POST', url: '/api/v1/compliance/audit-log/digests', headers: adminOf(tenant) })
  assert.equal(signed.statusCode, 201, signed.body)
  const headSeq = signed.json().headSeq as string
  const [, second, third] = await rows(tenant)
  assert.ok(second && third)
  // A superuser drops the two newest entries, the head the digest signed among them.
  await db.adminQuery(`${disableTriggers}; delete from compliance.audit_log where tenant_id = '${tenant}' and seq >= ${third.seq}; ${enableTriggers}`)

  const online = (await app.inject({ url: '/api/v1/compliance/audit-log/verify', headers: adminOf(tenant) })).json()
  assert.deepEqual(online, { ok: false, checked: 2, archived: 0, headHash: second.hash, firstBroken: { seq: headSeq, eventId: null, reason: 'truncated', digestNo: 1 } })
  const file = await exportFile(app, tenant, 'truncated.jsonl')
  assert.match(readFileSync(file, 'utf8'), /"type":"digest"/, 'the newest digest is exported though its head is not')
  const offline = await auditVerify(file)
  assert.equal(offline.code, 1, offline.stdout)
  assert.match(offline.stdout, new RegExp(`^FAILED: .*truncated\\.jsonl line \\d+: truncated: digest #1 signed seq ${headSeq}, after seq ${second.seq}, the chain's head when exported`))
})

test("an export of a period that ends before the newest signed head verifies, and says that digest's head lies after it", async () => {
  const app = await startCompliance({ AUDIT_SIGNING_KEYS: generateSigningKeyRingJson([1]) })
  const tenant = randomUUID()
  await append(app, tenant, 3, new Date(Date.now() - 2 * 3_600_000))
  await append(app, tenant, 2)
  const signed = await app.inject({ method: 'POST', url: '/api/v1/compliance/audit-log/digests', headers: adminOf(tenant) })
  assert.equal(signed.statusCode, 201, signed.body)
  assert.equal((await app.inject({ url: '/api/v1/compliance/audit-log/verify', headers: adminOf(tenant) })).json().ok, true)

  const earlier = await auditVerify(await exportFile(app, tenant, 'earlier.jsonl', new Date(Date.now() - 3 * 3_600_000).toISOString(), new Date(Date.now() - 3_600_000).toISOString()))
  assert.equal(earlier.code, 0, earlier.stdout)
  assert.match(earlier.stdout, /^OK: export of tenant .*: 3 entries/)
  assert.match(earlier.stdout, /digest #1 signed seq \d+, after this export's last entry/)
  const whole = await auditVerify(await exportFile(app, tenant, 'whole.jsonl', new Date(Date.now() - 3 * 3_600_000).toISOString()))
  assert.equal(whole.code, 0, whole.stdout)
  assert.match(whole.stdout, /^OK: export of tenant .*: 5 entries .* 1 signed digests verified/)

  // Cut short at the end (as a download that broke off would be): the header's last entry is missing.
  const cut = join(dir, 'cut.jsonl')
  const lines = readFileSync(join(dir, 'whole.jsonl'), 'utf8').split('\n')
  const lastEntry = lines.findLastIndex((line) => line.startsWith('{"type":"entry"'))
  writeFileSync(cut, [...lines.slice(0, lastEntry), ...lines.slice(lastEntry + 1)].join('\n'))
  const cutResult = await auditVerify(cut)
  assert.equal(cutResult.code, 1, cutResult.stdout)
  assert.match(cutResult.stdout, /: truncated: /)
})

test('after a key rotation (old private key gone) both keys are published and old and new digests verify; the hourly job is a timer', async () => {
  const seeds = JSON.parse(generateSigningKeyRingJson([1, 2])) as Record<string, string>
  const before = await startCompliance({ AUDIT_SIGNING_KEYS: JSON.stringify({ 1: seeds['1'] }) })
  const tenant = randomUUID()
  await append(before, tenant, 2)
  const first = await before.inject({ method: 'POST', url: '/api/v1/compliance/audit-log/digests', headers: adminOf(tenant) })
  assert.equal(first.statusCode, 201, first.body)
  await before.close()

  // The new ring holds only version 2; the job runs on a short interval instead of being called.
  const after = await startCompliance({ AUDIT_SIGNING_KEYS: JSON.stringify({ 2: seeds['2'] }), AUDIT_DIGEST_INTERVAL_MS: '100' })
  await append(after, tenant, 2)
  const deadline = Date.now() + 30_000
  let digests: Array<{ digestNo: number; keyId: string }> = []
  while (Date.now() < deadline) {
    digests = (await after.inject({ url: '/api/v1/compliance/audit-log/digests', headers: adminOf(tenant) })).json().data
    if (digests.length >= 2) break
    await sleep(100)
  }
  assert.deepEqual(
    digests.map((d) => d.digestNo),
    [2, 1],
    'the timer signed the new head',
  )
  const [newer, older] = digests as unknown as [{ keyId: string }, { keyId: string }]
  assert.match(older.keyId, /^v1-/)
  assert.match(newer.keyId, /^v2-/)

  const published = (await after.inject({ url: '/api/v1/compliance/audit-log/signing-keys' })).json().keys as Array<{ keyId: string; current: boolean }>
  assert.deepEqual(
    published.filter((key) => [older.keyId, newer.keyId].includes(key.keyId)).map((key) => [key.keyId, key.current]),
    [
      [older.keyId, false],
      [newer.keyId, true],
    ],
    'the rotated-out key stays published',
  )
  const keysFile = join(dir, 'keys-rotated.json')
  writeFileSync(keysFile, JSON.stringify({ keys: published }))
  const file = await exportFile(after, tenant, 'rotated.jsonl')
  const verified = await auditVerify(file, '--keys', keysFile)
  assert.equal(verified.code, 0, verified.stdout)
  assert.match(verified.stdout, /4 entries .* 2 signed digests verified/)

  // Pinned keys that lack the old one: its digest cannot be vouched for.
  const onlyNew = join(dir, 'keys-new-only.json')
  writeFileSync(onlyNew, JSON.stringify({ keys: published.filter((key) => key.keyId !== older.keyId) }))
  const partial = await auditVerify(file, '--keys', onlyNew)
  assert.equal(partial.code, 1)
  assert.match(partial.stdout, /unknown_key: digest #1 is signed with key v1-/)
})

test('a digest cursor edited past the integer digest_no column is a 400 INVALID_CURSOR, not a database error', async () => {
  const app = await startCompliance({ AUDIT_SIGNING_KEYS: generateSigningKeyRingJson([1]) })
  const tenant = randomUUID()
  const list = (no: string) => app.inject({ url: `/api/v1/compliance/audit-log/digests?cursor=${Buffer.from(JSON.stringify({ no })).toString('base64url')}`, headers: adminOf(tenant) })
  const largest = await list('2147483647')
  assert.equal(largest.statusCode, 200, largest.body)
  for (const no of ['2147483648', '9223372036854775807']) {
    const tampered = await list(no)
    assert.equal(tampered.statusCode, 400, `${no}: ${tampered.body}`)
    assert.match(String(tampered.headers['content-type']), /^application\/problem\+json/)
    assert.equal(tampered.json().code, 'INVALID_CURSOR')
  }
})
