import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createDatabase, createKnex, systemRoleOf } from '@hub/service-kit'
import { createSyncLogRepository, type NewSyncLog } from '../src/plugins/app/sync-logs/sync-log-repository.ts'
import { INTEGRATION_SCHEMA } from '../src/db/schema.ts'
import { setupIntegrationTests, signedAs } from './helpers.ts'

const { build, db } = await setupIntegrationTests()
const knex = createKnex(db.urlFor(INTEGRATION_SCHEMA.appRole))
const database = createDatabase(knex, { systemRole: systemRoleOf(INTEGRATION_SCHEMA.appRole) })
const repo = createSyncLogRepository()
test.after(() => knex.destroy())

const tenantA = randomUUID()
const tenantB = randomUUID()
const venueA = randomUUID()
const venueB = randomUUID()

const run = (tenantId: string, venueId: string, entity: NewSyncLog['entity'] = 'customer'): NewSyncLog => ({
  tenantId,
  venueId,
  connectionId: randomUUID(),
  provider: 'stripe',
  entity,
  mode: 'full',
  trigger: 'manual',
  queue: 'integration-high',
})

async function get(app: Awaited<ReturnType<typeof build>>, url: string, service: 'compliance-service' | 'venue-service' = 'compliance-service') {
  return app.inject({ url, headers: signedAs(service, 'GET', url) })
}

/**
 * Reads the feed until `expected` rows arrived (or it is caught up when none are expected). The
 * feed holds rows back while any older transaction in the cluster is still open — other test
 * files run concurrently — so a read may need a moment to see what was just committed.
 */
async function drainUntil(app: Awaited<ReturnType<typeof build>>, cursor: string | undefined, expected: number) {
  const seen: Array<{ id: string; status: string }> = []
  let next = cursor
  const deadline = Date.now() + 10_000
  do {
    const page = await drain(app, next)
    seen.push(...page.seen)
    next = page.cursor
    if (seen.length >= expected) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  } while (Date.now() < deadline)
  return { seen, cursor: next as string }
}

async function drain(app: Awaited<ReturnType<typeof build>>, cursor?: string) {
  const seen: Array<{ id: string; status: string }> = []
  let next = cursor
  for (;;) {
    const url = `/internal/sync-logs?limit=3${next ? `&cursor=${next}` : ''}`
    const response = await get(app, url)
    assert.equal(response.statusCode, 200, response.body)
    const page = response.json()
    next = page.nextCursor
    if (page.logs.length === 0) return { seen, cursor: next as string }
    seen.push(...page.logs.map((log: { id: string; status: string }) => ({ id: log.id, status: log.status })))
  }
}

test('the change feed hands out every run in order, and again after each change', async () => {
  const app = await build()
  const first = await drain(app)
  const created = []
  for (let i = 0; i < 5; i++) created.push(await database.withTenant(i % 2 ? tenantA : tenantB, (trx) => repo.insert(trx, run(i % 2 ? tenantA : tenantB, i % 2 ? venueA : venueB))))
  const afterCreate = await drainUntil(app, first.cursor, 5)
  assert.deepEqual(
    afterCreate.seen.map((s) => s.id),
    created.map((c) => c.id),
  )
  const target = created[2]!
  await database.withTenant(target.tenantId, (trx) => repo.update(trx, target.id, { status: 'running', startedAt: new Date() }))
  await database.withTenant(target.tenantId, (trx) => repo.update(trx, target.id, { status: 'succeeded', finishedAt: new Date(), counts: { fetched: 10, created: 10 } }))
  const afterUpdate = await drainUntil(app, afterCreate.cursor, 1)
  assert.deepEqual(afterUpdate.seen, [{ id: target.id, status: 'succeeded' }], 'a changed run reappears once, with its latest state')
  assert.deepEqual((await drain(app, afterUpdate.cursor)).seen, [], 'caught up')
})

test('a run written by a transaction that commits late is not skipped', async () => {
  const app = await build()
  const start = await drain(app)
  const slow = await knex.transaction()
  await slow.raw("select set_config('app.tenant_id', ?, true)", [tenantA])
  const late = await repo.insert(slow, run(tenantA, venueA))
  const early = await database.withTenant(tenantA, (trx) => repo.insert(trx, run(tenantA, venueA)))
  const whileOpen = await drain(app, start.cursor)
  assert.deepEqual(whileOpen.seen, [], 'held back while an older transaction is still running')
  await slow.commit()
  const afterCommit = await drainUntil(app, whileOpen.cursor, 2)
  assert.deepEqual(
    afterCommit.seen.map((s) => s.id),
    [late.id, early.id],
  )
})

test("one venue's runs page in a stable order, with since and limit", async () => {
  const app = await build()
  const venue = randomUUID()
  const ids: string[] = []
  for (let i = 0; i < 7; i++) ids.push((await database.withTenant(tenantB, (trx) => repo.insert(trx, run(tenantB, venue, 'payment')))).id)
  // Like the tenant feed, this one holds rows back while an older transaction anywhere in the
  // cluster is open (other test files run concurrently): page through again until all have come.
  const deadline = Date.now() + 30_000
  let seen: string[] = []
  for (;;) {
    seen = []
    let cursor: string | null = null
    do {
      const url: string = `/internal/sync-logs/venue/${venue}?limit=3${cursor ? `&cursor=${cursor}` : ''}`
      const response = await get(app, url)
      assert.equal(response.statusCode, 200, response.body)
      assert.equal(response.json().venueId, venue)
      seen.push(...response.json().logs.map((log: { id: string }) => log.id))
      cursor = response.json().nextCursor
    } while (cursor)
    if (seen.length >= ids.length || Date.now() > deadline) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  assert.deepEqual(seen, ids)
  const future = await get(app, `/internal/sync-logs/venue/${venue}?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)
  assert.deepEqual(future.json().logs, [])
  assert.equal((await get(app, `/internal/sync-logs/venue/${venue}?limit=1001`)).statusCode, 400)
  assert.equal((await get(app, `/internal/sync-logs/venue/not-a-uuid`)).statusCode, 400)
  assert.equal((await get(app, `/internal/sync-logs?cursor=bogus`)).json().code, 'INVALID_CURSOR')
})

test('internal sync-log routes refuse unsigned callers and callers without the permission', async () => {
  const app = await build()
  const unsigned = await app.inject({ url: '/internal/sync-logs' })
  assert.equal(unsigned.statusCode, 401)
  assert.equal(unsigned.json().code, 'INTERNAL_AUTH_MISSING_HEADERS')
  const wrongService = await get(app, '/internal/sync-logs', 'venue-service')
  assert.equal(wrongService.statusCode, 403)
  assert.equal(wrongService.json().code, 'INTERNAL_AUTH_FORBIDDEN')
  const headers = signedAs('compliance-service', 'GET', '/internal/sync-logs')
  assert.equal((await app.inject({ url: '/internal/sync-logs', headers })).statusCode, 200)
  const replay = await app.inject({ url: '/internal/sync-logs', headers })
  assert.equal(replay.statusCode, 401)
  assert.equal(replay.json().code, 'INTERNAL_AUTH_REPLAY')
  const tampered = await app.inject({ url: '/internal/sync-logs?limit=5', headers: signedAs('compliance-service', 'GET', '/internal/sync-logs?limit=6') })
  assert.equal(tampered.json().code, 'INTERNAL_AUTH_BAD_SIGNATURE')
})

test('a second replica sharing Redis refuses a request the first already served', async () => {
  const [one, two] = [await build(), await build()]
  const headers = signedAs('compliance-service', 'GET', '/internal/sync-logs?limit=1')
  assert.equal((await one.inject({ url: '/internal/sync-logs?limit=1', headers })).statusCode, 200)
  const replay = await two.inject({ url: '/internal/sync-logs?limit=1', headers })
  assert.equal(replay.statusCode, 401)
  assert.equal(replay.json().code, 'INTERNAL_AUTH_REPLAY')
})
