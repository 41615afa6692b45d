// The runner fetches pages ahead of the one it writes: the checkpoint must still only ever name a
// page whose records are committed, the fetching must stop when the buffer is full, and pages
// that piled up behind a slow write go in together, each record counted once.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type Bull from 'bull'
import type { EntityName } from '../../src/providers/canonical.ts'
import type { ChangePage, ProviderAdapter } from '../../src/providers/provider-adapter.ts'
import { createReadAhead } from '../../src/plugins/app/sync/read-ahead.ts'
import { createRecordRepository, type RecordRepository } from '../../src/plugins/app/sync/record-repository.ts'
import { createSyncLogRepository } from '../../src/plugins/app/sync-logs/sync-log-repository.ts'
import { createSyncRunner, type SyncRunnerDeps } from '../../src/plugins/app/sync/sync-runner.ts'
import type { SyncJobData } from '../../src/plugins/app/sync/sync-queues.ts'
import { createSyncStateRepository } from '../../src/plugins/app/sync/sync-state-repository.ts'
import { setupSyncRig, sortedIds } from './sync-rig.ts'

const rig = await setupSyncRig({ sims: { stripe: { recordsPerEntity: 0 } } })

async function eventually<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== false) return value
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`)
    await sleep(25)
  }
}

test('the read-ahead buffer never holds more than its capacity and hands items over in order, then the error', async () => {
  let pulled = 0
  const ahead = createReadAhead(async () => {
    pulled++
    if (pulled === 6) throw new Error('provider down')
    return pulled
  }, 2)
  await eventually('the buffer to fill', async () => ahead.buffered === 2)
  assert.equal(pulled, 2, 'nothing fetched beyond the capacity while nobody takes')
  const taken: number[] = []
  await assert.rejects(async () => {
    for (;;) {
      const item = await ahead.next()
      assert.ok(item !== null)
      taken.push(item)
    }
  }, /provider down/)
  assert.deepEqual(taken, [1, 2, 3, 4, 5], 'every item fetched before the failure is handed over first')
})

test('with a weight bound, the read-ahead stops at that many records even below its page capacity', async () => {
  // Pages of 300 records, at most 10 pages or 1,000 records: the fourth page crosses the bound.
  let pulled = 0
  const ahead = createReadAhead(
    async () => {
      pulled++
      return pulled <= 6 ? { n: pulled, records: 300 } : null
    },
    10,
    { max: 1_000, of: (item) => item.records },
  )
  await eventually('the buffer to fill', async () => ahead.buffered === 4)
  await sleep(50)
  assert.equal(pulled, 4, 'nothing fetched once 1,000 records are waiting')
  assert.deepEqual(
    ahead.ready(2).map((item) => item.n),
    [1, 2],
  )
  // 600 records left waiting: fetching resumes until the bound is crossed again.
  await eventually('the buffer to refill', async () => ahead.buffered === 4)
  assert.equal(pulled, 6)
  const rest: number[] = []
  for (let item = await ahead.next(); item; item = await ahead.next()) rest.push(item.n)
  assert.deepEqual(rest, [3, 4, 5, 6], 'in order, to the end')
})

test('pages fetched ahead are not checkpointed before they are written; pages that piled up go in together, once', { timeout: 120_000 }, async () => {
  const TOTAL = 1_000
  const PAGE = 100
  const READ_AHEAD = 3
  const app = await rig.build()
  const tenantId = randomUUID()
  const account = await rig.account('stripe')
  await rig.control('stripe', 'POST', `/_sim/accounts/${account.accountId}/seed`, { entity: 'customer', count: TOTAL })
  const connection = await rig.connect(app, { tenantId, provider: 'stripe', ...account })
  const { jobs } = await app.syncEngine.enqueueSync({ tenantId, venueId: connection.venueId, connectionId: connection.id, entities: ['customer'], mode: 'full', trigger: 'manual', queue: 'high' })
  const syncLogId = jobs[0]?.syncLogId as string

  // The real adapter, counting the pages it has handed out and their cursors.
  const cursors: string[] = []
  const counting = (adapter: ProviderAdapter): ProviderAdapter =>
    Object.assign(Object.create(adapter) as ProviderAdapter, {
      listChanges<E extends EntityName>(...args: Parameters<ProviderAdapter['listChanges']>): AsyncIterable<ChangePage<E>> {
        const inner = adapter.listChanges(...args)
        return {
          async *[Symbol.asyncIterator]() {
            for await (const page of inner) {
              cursors.push(page.cursor)
              yield page as ChangePage<E>
            }
          },
        }
      },
    })
  // The real repository; the second write is held until the test lets it go.
  const real = createRecordRepository()
  let writes = 0
  const rowsPerWrite: number[] = []
  let release!: () => void
  const held = new Promise<void>((resolve) => {
    release = resolve
  })
  const records: RecordRepository = {
    ...real,
    async upsertBatch(...args) {
      writes++
      rowsPerWrite.push(args[2].length)
      if (writes === 2) await held
      return real.upsertBatch(...args)
    },
  }
  const deps: SyncRunnerDeps = {
    db: app.db,
    connectionContext: {
      forSync: async (t, id) => {
        const found = await app.connectionContext.forSync(t, id)
        return { ...found, binding: { ...found.binding, adapter: counting(found.binding.adapter) } }
      },
      onAuthFailure: async () => false,
    },
    syncLogs: app.syncLogs,
    runs: createSyncLogRepository(),
    state: createSyncStateRepository(),
    records,
    // The budget is not what this test is about: calls go straight through.
    gate: { call: (_target, fn) => fn(), withRetries: (attempt) => attempt() },
    control: { lockRun: async () => ({ held: () => true, release: async () => undefined }), clearCancel: async () => undefined },
    metrics: { records: () => undefined, providerError: () => undefined } as unknown as SyncRunnerDeps['metrics'],
    logger: app.log,
    pageSize: PAGE,
    readAhead: READ_AHEAD,
    maxRecordsPerWrite: 10 * PAGE,
  }
  const data: SyncJobData = { kind: 'sync', tenantId, venueId: connection.venueId, connectionId: connection.id, provider: 'stripe', entity: 'customer', mode: 'full', trigger: 'manual', syncLogId }
  const job = { id: `read-ahead-${randomUUID()}`, data, queue: { name: 'test' }, update: async () => undefined, progress: async () => undefined } as unknown as Bull.Job<SyncJobData>
  const signal = { stopReason: () => null, refresh: async () => null, dispose: () => undefined }
  const running = createSyncRunner(deps).run(job, signal)

  // First page written, second held: the reader runs ahead by its capacity and stops there.
  await eventually('the second write to start', async () => writes === 2)
  const [firstPages, secondPages] = rowsPerWrite.map((rows) => rows / PAGE) as [number, number]
  const fetchedAhead = Math.min(TOTAL / PAGE, firstPages + secondPages + READ_AHEAD)
  await eventually('the read-ahead to fill', async () => cursors.length === fetchedAhead)
  const state = async () => (await rig.db.adminQuery<{ run_cursor: string | null }>('select run_cursor from integration.sync_state where connection_id = $1', [connection.id]))[0]
  const stored = async () => Number((await rig.db.adminQuery<{ count: string }>('select count(*) from integration.records where connection_id = $1', [connection.id]))[0]?.count)
  assert.equal((await state())?.run_cursor, cursors[firstPages - 1], 'the checkpoint names the last page written, not a page fetched ahead')
  assert.equal(await stored(), firstPages * PAGE)
  assert.equal((await rig.syncLog(syncLogId)).records_fetched, firstPages * PAGE, 'the log counts only what is written')
  // Back-pressure: with the buffer full, nothing more is fetched however long the write takes.
  await sleep(300)
  assert.equal(cursors.length, fetchedAhead, 'no fetching beyond the read-ahead while the writer is held')

  release()
  const outcome = await running
  assert.equal(outcome.status, 'succeeded')
  assert.ok(writes < TOTAL / PAGE, `pages that waited went in together (${writes} writes for ${TOTAL / PAGE} pages)`)
  const log = await rig.syncLog(syncLogId)
  assert.deepEqual([log.records_fetched, log.records_created, log.records_updated, log.records_unchanged], [TOTAL, TOTAL, 0, 0])
  const truth = (await rig.control('stripe', 'GET', `/_sim/accounts/${account.accountId}/customer`)).ids as string[]
  assert.deepEqual(await rig.liveIds(connection.id, 'customer'), sortedIds(truth))
  assert.equal((await state())?.run_cursor, null, 'the finished run leaves no checkpoint behind')
})
