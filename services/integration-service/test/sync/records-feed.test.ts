// The records feed (GET /api/v1/integrations/records) under concurrent writers: a change whose
// transaction commits after a later one is handed out once, not skipped; cursors issued before
// the feed paged by transaction still work, tampered ones are 400s; and a client that has read
// everything knows where to resume (resumeCursor).
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { decodeCursor, encodeCursor, type ServiceInstance } from '@hub/service-kit'
import { bearer, testToken } from '@hub/service-kit/testing'
import { Type } from '@sinclair/typebox'
import { createRecordRepository, type RecordInput, type RecordScope } from '../../src/plugins/app/sync/record-repository.ts'
import { createSubjectDataRepository } from '../../src/plugins/app/subject-data/subject-data-repository.ts'
import { setupIntegrationTests, signal } from '../helpers.ts'
import { seedConnection } from '../webhooks/webhook-fixtures.ts'

const tests = await setupIntegrationTests()
const records = createRecordRepository()

interface FeedRecord {
  externalId: string
  data: { name?: string }
  deleted: boolean
}
interface FeedPage {
  data: FeedRecord[]
  nextCursor: string | null
  resumeCursor?: string
}

const input = (externalId: string, version = 1): RecordInput => ({ externalId, data: { name: `${externalId} v${version}` }, raw: { id: externalId, version }, hash: `${externalId}:${version}` })

async function venueWithConnection(app: ServiceInstance): Promise<{ scope: RecordScope; headers: Record<string, string> }> {
  const tenantId = randomUUID()
  const venueId = randomUUID()
  const connection = await seedConnection(app, { provider: 'stripe', tenantId, venueId })
  const scope: RecordScope = { tenantId, venueId, connectionId: connection.id, provider: 'stripe', entity: 'customer' }
  return { scope, headers: bearer(testToken({ tenantId, roles: ['viewer'] })) }
}

const write = (app: ServiceInstance, scope: RecordScope, rows: RecordInput[]) => app.db.withTenant(scope.tenantId, (trx) => records.upsertBatch(trx, scope, rows, null))

async function feedPage(app: ServiceInstance, headers: Record<string, string>, venueId: string, cursor: string | undefined, limit: number): Promise<FeedPage> {
  const response = await app.inject({ url: `/api/v1/integrations/records?venueId=${venueId}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, headers })
  assert.equal(response.statusCode, 200, response.body)
  return response.json()
}

/**
 * Pages through the feed from `cursor` as a polling client does and returns what came and the
 * cursor it keeps for next time: the last `nextCursor` it was handed, then at the end the page's
 * `resumeCursor` (the feed before it had none: a client kept its last `nextCursor`).
 */
async function readToEnd(app: ServiceInstance, headers: Record<string, string>, venueId: string, cursor: string | undefined, limit: number) {
  const seen: FeedRecord[] = []
  let kept = cursor
  for (;;) {
    const page = await feedPage(app, headers, venueId, kept, limit)
    seen.push(...page.data)
    if (page.nextCursor) {
      kept = page.nextCursor
      continue
    }
    return { seen, cursor: page.resumeCursor ?? kept }
  }
}

/**
 * Reads on from `cursor` until `count` changes came (or 15 s passed). The feed holds a change back
 * while any older transaction in the cluster is still running (other test files run beside this
 * one), so what was just committed may take a moment to come.
 */
async function readUntil(app: ServiceInstance, headers: Record<string, string>, venueId: string, cursor: string | undefined, count: number, limit = 2) {
  const seen: FeedRecord[] = []
  let kept = cursor
  const deadline = Date.now() + 15_000
  for (;;) {
    const next = await readToEnd(app, headers, venueId, kept, limit)
    seen.push(...next.seen)
    kept = next.cursor
    if (seen.length >= count || Date.now() > deadline) return { seen, cursor: kept }
    await sleep(100)
  }
}

const ids = (seen: FeedRecord[]) => seen.map((record) => record.externalId)

const seqOf = async (connectionId: string, externalId: string) =>
  BigInt((await tests.db.adminQuery<{ seq: string }>('select change_seq::text as seq from integration.records where connection_id = $1 and external_id = $2', [connectionId, externalId]))[0]?.seq ?? '-1')

test('a change whose transaction took the lower change_seq but commits last is handed out, exactly once', async (t) => {
  const app = await tests.build()
  const wrote = signal()
  const release = signal()
  let slow: Promise<unknown> = Promise.resolve()
  t.after(async () => {
    release.fire()
    await slow.catch(() => undefined)
    await app.close()
  })
  const { scope, headers } = await venueWithConnection(app)
  await write(app, scope, [input('before')])

  // The slow writer takes its change_seq first and stays open; a second one takes later
  // change_seqs and commits at once (two connections of one venue syncing, a webhook beside a sync).
  slow = app.db.withTenant(scope.tenantId, async (trx) => {
    await records.upsertBatch(trx, scope, [input('late')], null)
    wrote.fire()
    await release.reached
  })
  await wrote.reached
  await write(app, scope, [input('early-1'), input('early-2')])

  // A client reads everything it can see meanwhile (in pages of one, so it holds a cursor past
  // the faster writer's changes whatever the feed shows it), then the slow writer commits.
  const whileOpen = await readToEnd(app, headers, scope.venueId, undefined, 1)
  release.fire()
  await slow
  assert.ok((await seqOf(scope.connectionId, 'late')) < (await seqOf(scope.connectionId, 'early-1')), 'the late commit holds the lower change_seq')

  const afterCommit = await readUntil(app, headers, scope.venueId, whileOpen.cursor, 4 - whileOpen.seen.length, 1)
  const seen = [...ids(whileOpen.seen), ...ids(afterCommit.seen)]
  assert.deepEqual([...seen].sort(), ['before', 'early-1', 'early-2', 'late'], `every change exactly once, read as ${JSON.stringify(seen)}`)
  assert.ok(seen.indexOf('late') < seen.indexOf('early-1'), 'in the order of their transactions')
  assert.deepEqual(ids((await readToEnd(app, headers, scope.venueId, afterCommit.cursor, 1)).seen), [], 'caught up')
})

test('a cursor issued before the feed paged by transaction ({ s }) still works and gives no less than it did', async (t) => {
  const app = await tests.build()
  t.after(() => app.close())
  const { scope, headers } = await venueWithConnection(app)
  // Rows written before the migration carry change_xid 1, in change_seq order.
  const legacy: bigint[] = []
  for (const externalId of ['old-1', 'old-2', 'old-3']) {
    const [row] = await tests.db.adminQuery<{ seq: string }>(
      `insert into integration.records (connection_id, entity, external_id, tenant_id, venue_id, provider, data, raw, content_hash, change_xid)
       values ($1, 'customer', $2, $3, $4, 'stripe', '{}'::jsonb, '{}'::jsonb, $5, '1'::xid8) returning change_seq::text as seq`,
      [scope.connectionId, externalId, scope.tenantId, scope.venueId, externalId],
    )
    legacy.push(BigInt(row?.seq as string))
  }
  await write(app, scope, [input('new-1')])

  // Before: everything with a change_seq above s. Now: the legacy rows after s, then every later write.
  const fromOld1 = await readUntil(app, headers, scope.venueId, encodeCursor({ s: String(legacy[0]) }), 3)
  assert.deepEqual(ids(fromOld1.seen), ['old-2', 'old-3', 'new-1'])
  assert.deepEqual(ids((await readUntil(app, headers, scope.venueId, encodeCursor({ s: '0' }), 4)).seen), ['old-1', 'old-2', 'old-3', 'new-1'])
  assert.deepEqual(ids((await readUntil(app, headers, scope.venueId, encodeCursor({ s: String(legacy[2]) }), 1)).seen), ['new-1'])
  // What it answers is a cursor of the new form, positioned after the last row.
  const resumed = decodeCursor(fromOld1.cursor ?? '', Type.Object({ x: Type.String(), s: Type.String() }, { additionalProperties: false }))
  assert.ok(resumed && BigInt(resumed.x) > 1n, JSON.stringify(resumed))
  assert.equal(resumed.s, String(await seqOf(scope.connectionId, 'new-1')))
  assert.deepEqual(ids((await readToEnd(app, headers, scope.venueId, fromOld1.cursor, 2)).seen), [])
})

test('tampered or out-of-range record cursors are 400 INVALID_CURSOR, never a 500', async (t) => {
  const app = await tests.build()
  t.after(() => app.close())
  const { scope, headers } = await venueWithConnection(app)
  const tampered = [
    encodeCursor({ x: 'abc', s: '1' }),
    encodeCursor({ x: '-1', s: '1' }),
    encodeCursor({ x: '18446744073709551616', s: '1' }), // 2^64: no xid8
    encodeCursor({ x: '99999999999999999999999', s: '1' }),
    encodeCursor({ x: '9223372036854775808', s: '1' }), // an xid8, but one the feed can never issue
    encodeCursor({ x: '1.5', s: '1' }),
    encodeCursor({ x: '01', s: '1' }),
    encodeCursor({ x: '', s: '1' }),
    encodeCursor({ x: 5, s: '1' }),
    encodeCursor({ x: null, s: '1' }),
    encodeCursor({ x: '1', s: 1 }),
    encodeCursor({ x: '1', s: '-1' }),
    encodeCursor({ x: '1', s: '9223372036854775808' }), // past bigint
    encodeCursor({ x: '1' }),
    encodeCursor({ x: '1', s: '1', i: '00000000-0000-0000-0000-000000000000' }),
    encodeCursor({ s: '1', extra: true }),
    encodeCursor({ s: 'abc' }),
    encodeCursor({}),
    encodeCursor([]),
    encodeCursor('1'),
    'not!base64',
  ]
  for (const cursor of tampered) {
    const response = await app.inject({ url: `/api/v1/integrations/records?venueId=${scope.venueId}&cursor=${encodeURIComponent(cursor)}`, headers })
    assert.deepEqual([response.statusCode, response.json().code], [400, 'INVALID_CURSOR'], `${Buffer.from(cursor, 'base64url').toString()}: ${response.body}`)
  }
  // The largest position a cursor may name is read like any other.
  const edge = encodeCursor({ x: '9223372036854775807', s: '9223372036854775807' })
  const page = await feedPage(app, headers, scope.venueId, edge, 10)
  assert.deepEqual(page, { data: [], nextCursor: null, resumeCursor: edge })
})

test('resumeCursor: after reading to the end a new change comes from it; an empty page answers its own position', async (t) => {
  const app = await tests.build()
  t.after(() => app.close())
  const { scope, headers } = await venueWithConnection(app)

  // Nothing yet: the page answers the feed's start, and reading from it later gives what came since.
  const empty = await feedPage(app, headers, scope.venueId, undefined, 10)
  assert.deepEqual([empty.data, empty.nextCursor, typeof empty.resumeCursor], [[], null, 'string'])
  await write(app, scope, [input('a'), input('b'), input('c')])
  const all = await readUntil(app, headers, scope.venueId, empty.resumeCursor, 3)
  assert.deepEqual(ids(all.seen).sort(), ['a', 'b', 'c'])

  // A full page: resumeCursor is nextCursor; the last page: after its last row, nextCursor null.
  const first = await feedPage(app, headers, scope.venueId, undefined, 2)
  assert.equal(first.data.length, 2)
  assert.equal(first.resumeCursor, first.nextCursor)
  const last = await feedPage(app, headers, scope.venueId, first.nextCursor as string, 2)
  assert.deepEqual([last.data.length, last.nextCursor], [1, null])
  assert.equal(last.resumeCursor, all.cursor)
  const caughtUp = await feedPage(app, headers, scope.venueId, last.resumeCursor, 2)
  assert.deepEqual(caughtUp, { data: [], nextCursor: null, resumeCursor: last.resumeCursor }, 'an empty page answers the position it was asked from')

  // Changed and deleted since: exactly those, from the remembered point.
  await write(app, scope, [input('b', 2)])
  await app.db.withTenant(scope.tenantId, (trx) => records.markDeleted(trx, scope, ['c']))
  const since = await readUntil(app, headers, scope.venueId, last.resumeCursor, 2)
  assert.deepEqual(
    since.seen.map((record) => [record.externalId, record.data.name ?? null, record.deleted]),
    [
      ['b', 'b v2', false],
      ['c', 'c v1', true],
    ],
  )
  assert.deepEqual((await feedPage(app, headers, scope.venueId, since.cursor, 10)).data, [])

  // A caller who may not read the venue gets an empty page that still answers a position.
  const stranger = bearer(testToken({ tenantId: scope.tenantId, roles: ['viewer'], venueIds: [randomUUID()] }))
  assert.deepEqual(await feedPage(app, stranger, scope.venueId, since.cursor, 10), { data: [], nextCursor: null, resumeCursor: since.cursor })
})

test('every write that takes a change_seq also stamps its transaction id, and only then', async (t) => {
  const app = await tests.build()
  t.after(() => app.close())
  const { scope } = await venueWithConnection(app)
  const stamp = async (externalId: string) =>
    (await tests.db.adminQuery<{ xid: string; seq: string }>('select change_xid::text as xid, change_seq::text as seq from integration.records where connection_id = $1 and external_id = $2', [scope.connectionId, externalId]))[0]
  const inTransaction = (fn: Parameters<typeof app.db.withTenant>[1]) =>
    app.db.withTenant(scope.tenantId, async (trx) => {
      await fn(trx)
      return ((await trx.raw('select pg_current_xact_id()::text as xid')) as { rows: Array<{ xid: string }> }).rows[0]?.xid
    })

  const inserted = await inTransaction((trx) => records.upsertBatch(trx, scope, [input('r1'), input('r2'), input('r3'), input('r4')], null))
  const created = await stamp('r1')
  assert.equal(created?.xid, inserted, 'an insert')

  // Unchanged content moves neither: written alone (the upsert compares hashes) or noted as seen by a full run.
  await inTransaction((trx) => records.upsertBatch(trx, scope, [input('r1')], null))
  assert.deepEqual(await stamp('r1'), created, 'unchanged content written alone')
  const runId = randomUUID()
  await inTransaction((trx) => records.upsertBatch(trx, scope, [input('r1'), input('r4')], runId))
  assert.deepEqual(await stamp('r1'), created, 'unchanged content noted as seen by a full run')

  const updated = await inTransaction((trx) => records.upsertBatch(trx, scope, [input('r1', 2)], null))
  assert.equal((await stamp('r1'))?.xid, updated, 'an update')
  assert.ok(BigInt((await stamp('r1'))?.seq as string) > BigInt(created?.seq as string))

  const deleted = await inTransaction((trx) => records.markDeleted(trx, scope, ['r2']))
  assert.equal((await stamp('r2'))?.xid, deleted, 'a deletion reported by the provider')

  const swept = await inTransaction((trx) => records.sweepUnseen(trx, scope, runId, new Date(Date.now() + 60_000)))
  assert.equal((await stamp('r3'))?.xid, swept, "a deletion by a full run's sweep")

  const subjects = createSubjectDataRepository()
  const redacted = await inTransaction((trx) => subjects.updateRecord(trx, { connection_id: scope.connectionId, entity: 'customer', external_id: 'r4' }, { name: '[erased]' }, {}, 'erased'))
  assert.equal((await stamp('r4'))?.xid, redacted, 'a data-subject redaction')
})
