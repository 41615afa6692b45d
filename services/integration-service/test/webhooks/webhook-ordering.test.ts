// Webhook events processed from their own object (Stripe sends the whole object): no provider call
// when the event is clearly newer than the stored record, nothing written when clearly older (a
// late delivery), the provider asked when the order is in doubt or the event is thin; each event
// processed exactly once however often it is delivered; and the version guard inside the bulk
// upsert the sync runs use.
import assert from 'node:assert/strict'
import { createHmac, randomUUID } from 'node:crypto'
import { describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createRecordRepository } from '../../src/plugins/app/sync/record-repository.ts'
import { createWebhookInboxRepository } from '../../src/plugins/app/webhooks/webhook-inbox-repository.ts'
import { prepareRecords } from '../../src/plugins/app/sync/sync-runner.ts'
import { setupSyncRig } from '../sync/sync-rig.ts'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const rig = await setupSyncRig({ sims: { stripe: { recordsPerEntity: 3 } } })
// The under-pressure guard would answer 503 on a loaded test machine; it is not what this file is about.
const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}ordering:`, MAX_EVENT_LOOP_DELAY_MS: '0' }, { worker: true })

/** A Stripe event about a customer, created `created` (unix seconds), signed now with `secret`. */
function customerEvent(secret: string, customerId: string, created: number, change: { type?: string; name: string }) {
  const payload = JSON.stringify({
    id: `evt_${randomUUID().replaceAll('-', '')}`,
    object: 'event',
    type: change.type ?? 'customer.updated',
    created,
    data: { object: { id: customerId, object: 'customer', name: change.name, email: `${change.name.split(' ')[0]?.toLowerCase()}@example.org`, created: 1_700_000_000, ...(change.type === 'customer.deleted' ? { deleted: true } : {}) } },
  })
  const t = Math.floor(Date.now() / 1000)
  const signature = createHmac('sha256', secret).update(`${t}.${payload}`).digest('hex')
  return { headers: { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${signature}` }, payload }
}

async function deliver(connectionId: string, delivery: { headers: Record<string, string>; payload: string }): Promise<Json> {
  const response = await app.inject({ method: 'POST', url: `/api/v1/integrations/webhooks/stripe/${connectionId}`, headers: delivery.headers, payload: delivery.payload })
  assert.equal(response.statusCode, 200, response.body)
  return response.json() as Json
}

/** Waits until every stored event of the connection is processed; returns their sync logs, oldest first. */
async function processed(connectionId: string, events: number): Promise<Json[]> {
  const deadline = Date.now() + 30_000
  for (;;) {
    const [row] = await rig.db.adminQuery<{ done: string; total: string }>('select count(processed_at) as done, count(*) as total from integration.webhook_inbox where connection_id = $1', [connectionId])
    if (Number(row?.total) === events && Number(row?.done) === events) break
    if (Date.now() > deadline) throw new Error(`events not processed: ${JSON.stringify(row)}`)
    await sleep(50)
  }
  return rig.db.adminQuery<Json>("select * from integration.sync_logs where connection_id = $1 and kind = 'webhook' order by created_at, id", [connectionId])
}

const recordOf = async (connectionId: string, externalId: string) =>
  (await rig.db.adminQuery<Json>('select data, deleted_at, source_version, change_seq::text as change_seq from integration.records where connection_id = $1 and external_id = $2', [connectionId, externalId]))[0]

async function connectStripe() {
  const account = await rig.account('stripe')
  const secret = `whsec_${randomUUID().replaceAll('-', '')}`
  const connection = await rig.connect(app, { tenantId: randomUUID(), provider: 'stripe', ...account, secrets: { ...account.secrets, webhookSecret: secret } })
  const customerId = ((await rig.control('stripe', 'GET', `/_sim/accounts/${account.accountId}/customer`)).ids as string[])[0] as string
  // What the provider would answer if asked: neither event's content, so a call shows in the record.
  await rig.control('stripe', 'PATCH', `/_sim/accounts/${account.accountId}/customer/${customerId}`, { name: 'Provider Copy' })
  return { account, secret, connection, customerId }
}

const now = () => Math.floor(Date.now() / 1000)

describe('webhook events carrying their object', () => {
  test('written from the event without a provider call; an older event delivered after it changes nothing', async () => {
    const { secret, connection, customerId } = await connectStripe()
    const t = now() - 60
    assert.equal((await deliver(connection.id, customerEvent(secret, customerId, t + 10, { name: 'Newer Name' }))).received, 1)
    await processed(connection.id, 1)
    assert.equal((await deliver(connection.id, customerEvent(secret, customerId, t, { name: 'Older Name' }))).received, 1)
    const logs = await processed(connection.id, 2)
    const record = await recordOf(connection.id, customerId)
    assert.deepEqual([record?.data.givenName, record?.data.familyName], ['Newer', 'Name'], 'the newer event wins and nobody asked the provider (its copy says Provider Copy)')
    assert.equal((record?.source_version as Date).getTime(), (t + 10) * 1000, "the record keeps the newer event's time")
    assert.deepEqual(
      logs.map((log) => [log.status, log.records_created, log.records_unchanged]),
      [
        ['succeeded', 1, 0],
        ['succeeded', 0, 1],
      ],
    )
  })

  test('a deletion is not undone by an older update delivered after it', async () => {
    const { secret, connection, customerId } = await connectStripe()
    const t = now() - 60
    await deliver(connection.id, customerEvent(secret, customerId, t, { name: 'First Name' }))
    await processed(connection.id, 1)
    await deliver(connection.id, customerEvent(secret, customerId, t + 20, { type: 'customer.deleted', name: 'First Name' }))
    await processed(connection.id, 2)
    const deleted = await recordOf(connection.id, customerId)
    assert.ok(deleted?.deleted_at, 'deleted from the event')
    await deliver(connection.id, customerEvent(secret, customerId, t + 10, { name: 'Late Update' }))
    await processed(connection.id, 3)
    assert.deepEqual(await recordOf(connection.id, customerId), deleted, 'the late update changed nothing')
  })

  test('events that cannot be ordered (the same second) and thin events ask the provider', async () => {
    const { account, secret, connection, customerId } = await connectStripe()
    const t = now() - 60
    await deliver(connection.id, customerEvent(secret, customerId, t, { name: 'One Name' }))
    await processed(connection.id, 1)
    await deliver(connection.id, customerEvent(secret, customerId, t, { name: 'Other Name' }))
    await processed(connection.id, 2)
    const record = await recordOf(connection.id, customerId)
    assert.deepEqual([record?.data.givenName, record?.data.familyName], ['Provider', 'Copy'], "the provider's copy decides")
    assert.ok((record?.source_version as Date).getTime() > t * 1000 + 1000, 'versioned by the time of the call')

    // A price event names its product without carrying it.
    const productId = ((await rig.control('stripe', 'GET', `/_sim/accounts/${account.accountId}/product`)).ids as string[])[0] as string
    const payload = JSON.stringify({ id: `evt_${randomUUID().replaceAll('-', '')}`, object: 'event', type: 'price.updated', created: t, data: { object: { id: 'price_thin', object: 'price', product: productId } } })
    const signature = createHmac('sha256', secret).update(`${now()}.${payload}`).digest('hex')
    await deliver(connection.id, { headers: { 'content-type': 'application/json', 'stripe-signature': `t=${now()},v1=${signature}` }, payload })
    await processed(connection.id, 3)
    const product = await recordOf(connection.id, productId)
    assert.equal(typeof product?.data.name, 'string', 'the product came from the provider')
  })

  test('redelivered events are stored and processed once', async () => {
    const { secret, connection, customerId } = await connectStripe()
    const delivery = customerEvent(secret, customerId, now() - 30, { name: 'Once Only' })
    // The same delivery ten times at once, then again after it was processed.
    const answers = await Promise.all(Array.from({ length: 10 }, () => deliver(connection.id, delivery)))
    assert.equal(
      answers.reduce((sum, answer) => sum + (answer.received as number), 0),
      1,
    )
    assert.equal(
      answers.reduce((sum, answer) => sum + (answer.duplicates as number), 0),
      9,
    )
    await processed(connection.id, 1)
    const first = await recordOf(connection.id, customerId)
    assert.deepEqual((await deliver(connection.id, delivery)).duplicates, 1)
    const logs = await processed(connection.id, 1)
    assert.equal(logs.length, 1, 'one sync log for the event')
    const [inbox] = await rig.db.adminQuery<Json>('select attempts from integration.webhook_inbox where connection_id = $1', [connection.id])
    assert.equal(inbox?.attempts, 1)
    assert.deepEqual(await recordOf(connection.id, customerId), first)
  })
})

describe('one event, one run', () => {
  test("an event's run is one finished sync log, and its events are started, records changed, completed, in that order", async () => {
    const { secret, connection, customerId } = await connectStripe()
    await deliver(connection.id, customerEvent(secret, customerId, now() - 30, { name: 'Run Once' }))
    const [log] = await processed(connection.id, 1)
    assert.ok(log)
    assert.equal(log.status, 'succeeded')
    assert.equal(log.kind, 'webhook')
    assert.ok(log.job_id, 'the job that ran it')
    assert.deepEqual([log.records_fetched, log.records_updated + log.records_created], [1, 1])
    assert.ok(log.started_at <= log.finished_at)
    const events = await rig.db.adminQuery<Json>("select type, data from integration.event_outbox where connection_id = $1 and (type like 'integration.sync.%' or type = 'integration.records.changed') order by id", [connection.id])
    assert.deepEqual(
      events.map((event) => event.type),
      ['integration.sync.started', 'integration.records.changed', 'integration.sync.completed'],
    )
    assert.ok(events.every((event) => event.data.syncLogId === log.id))
    const changed = events[1]?.data as { created: string[]; updated: string[] }
    assert.deepEqual([...changed.created, ...changed.updated], [customerId])
    assert.equal(events[2]?.data.status, 'succeeded')
    assert.equal(events[2]?.data.startedAt, new Date(log.started_at).toISOString())
  })

  test('an event carrying its object is acknowledged in five statements and processed in one transaction of seven, and an unchanged redelivery writes nothing', async () => {
    const { secret, connection, customerId } = await connectStripe()
    const sent: Array<{ sql: string; tx: string | undefined }> = []
    const listen = (query: { sql: string; __knexTxId?: string }) => sent.push({ sql: query.sql, tx: query.__knexTxId })
    app.db.knex.on('query', listen)
    try {
      await deliver(connection.id, customerEvent(secret, customerId, now() - 30, { name: 'Eight Statements' }))
      await processed(connection.id, 1)
    } finally {
      app.db.knex.off('query', listen)
    }
    const claim = sent.find((query) => /^update "integration"\."webhook_inbox" set "processed_at"/.test(query.sql))
    assert.ok(claim?.tx, 'the claim ran in a transaction')
    const statements = sent.filter((query) => query.tx === claim.tx).map((query) => query.sql.trim().split(/\s+/).slice(0, 3).join(' '))
    assert.deepEqual(statements, [
      "BEGIN; select set_config('app.tenant_id',",
      'update "integration"."webhook_inbox" set',
      'select c.*, s.found',
      'select kind, key_version,',
      'insert into integration.records',
      'with "events" as',
      'COMMIT;',
    ])
    // The acknowledgement: the connection found in the system scope by the statement that enters its tenant's.
    const stored = sent.find((query) => /^insert into "integration"\."webhook_inbox"/.test(query.sql))
    assert.ok(stored?.tx, 'the insert ran in a transaction')
    assert.deepEqual(
      sent.filter((query) => query.tx === stored.tx).map((query) => query.sql.trim().split(/\s+/).slice(0, 3).join(' ')),
      ["BEGIN; select set_config('app.scope',", "select c.*, set_config('app.scope',", 'select kind, key_version,', 'insert into "integration"."webhook_inbox"', 'COMMIT;'],
    )
    const [record] = await rig.db.adminQuery<Json>('select data, updated_at, change_seq::text as change_seq from integration.records where connection_id = $1 and external_id = $2', [connection.id, customerId])
    assert.equal(record?.data.givenName, 'Eight')

    // The same content, newer: the upsert's own hash comparison leaves the record alone and counts it unchanged.
    await deliver(connection.id, customerEvent(secret, customerId, now() - 10, { name: 'Eight Statements' }))
    const logs = await processed(connection.id, 2)
    assert.deepEqual(
      logs.map((log) => [log.records_created, log.records_updated, log.records_unchanged]),
      [
        [1, 0, 0],
        [0, 0, 1],
      ],
    )
    const [after] = await rig.db.adminQuery<Json>('select updated_at, change_seq::text as change_seq from integration.records where connection_id = $1 and external_id = $2', [connection.id, customerId])
    assert.deepEqual([after?.updated_at, after?.change_seq], [record?.updated_at, record?.change_seq])
  })

  test("an event's record is mapped with its tenant's field mappings, in order, and never with another tenant's", async () => {
    const mine = await connectStripe()
    const theirs = await connectStripe()
    const tenantOf = async (connectionId: string) => (await rig.db.adminQuery<{ tenant_id: string }>('select tenant_id from integration.connections where id = $1', [connectionId]))[0]?.tenant_id
    await rig.db.adminQuery(
      "insert into integration.field_mappings (tenant_id, provider, entity, source_path, target_field, transform) values ($1, 'stripe', 'customer', 'email', 'shout', 'uppercase'), ($1, 'stripe', 'customer', 'name', 'alias', 'lowercase'), ($2, 'stripe', 'customer', 'email', 'leaked', 'none')",
      [await tenantOf(mine.connection.id), await tenantOf(mine.connection.id), await tenantOf(theirs.connection.id)],
    )
    await deliver(mine.connection.id, customerEvent(mine.secret, mine.customerId, now() - 30, { name: 'Mapped Person' }))
    await processed(mine.connection.id, 1)
    const record = await recordOf(mine.connection.id, mine.customerId)
    assert.deepEqual(record?.data.custom, { alias: 'mapped person', shout: 'MAPPED@EXAMPLE.ORG' })
    assert.deepEqual(Object.keys(record?.data.custom ?? {}), ['alias', 'shout'])
  })

  test('of two attempts at one inbox row at once, the second waits for the first and then claims nothing', async () => {
    const { secret, connection, customerId } = await connectStripe()
    await deliver(connection.id, customerEvent(secret, customerId, now() - 30, { name: 'Claimed Once' }))
    await processed(connection.id, 1)
    const [row] = await rig.db.adminQuery<Json>('select id, tenant_id from integration.webhook_inbox where connection_id = $1', [connection.id])
    assert.ok(row)
    await rig.db.adminQuery('update integration.webhook_inbox set processed_at = null, attempts = 0 where id = $1', [row.id])
    const inbox = createWebhookInboxRepository()
    let releaseFirst = () => {}
    const firstHolds = new Promise<void>((resolve) => (releaseFirst = resolve))
    let firstClaimed: () => void = () => {}
    const claimedByFirst = new Promise<void>((resolve) => (firstClaimed = resolve))
    const first = app.db.withTenant(row.tenant_id, async (trx) => {
      const claimed = await inbox.claim(trx, row.id, { lastError: null })
      firstClaimed()
      await firstHolds
      return claimed
    })
    await claimedByFirst
    const second = app.db.withTenant(row.tenant_id, (trx) => inbox.claim(trx, row.id, { lastError: null }))
    // The second is held by the first's row lock, not answered from a stale read.
    const early = await Promise.race([second.then(() => 'answered'), sleep(300).then(() => 'waiting')])
    assert.equal(early, 'waiting')
    releaseFirst()
    assert.deepEqual([(await first)?.id, await second], [row.id, undefined])
    const [after] = await rig.db.adminQuery<Json>('select attempts, processed_at from integration.webhook_inbox where id = $1', [row.id])
    assert.equal(after?.attempts, 1)
    assert.ok(after?.processed_at)
  })
})

describe('dispatch', () => {
  test('a burst of events is handed to the queue together: each enqueued, processed once, from its own object', async () => {
    const { secret, connection } = await connectStripe()
    const t = now() - 30
    const ids = Array.from({ length: 40 }, (_, i) => `cus_burst${String(i).padStart(4, '0')}`)
    const answers = await Promise.all(ids.map((id) => deliver(connection.id, customerEvent(secret, id, t, { name: `Burst ${id}` }))))
    assert.equal(
      answers.reduce((sum, answer) => sum + (answer.received as number), 0),
      ids.length,
    )
    const logs = await processed(connection.id, ids.length)
    assert.equal(logs.length, ids.length)
    const [inbox] = await rig.db.adminQuery<Json>('select count(enqueued_at)::int as enqueued, count(*) filter (where attempts = 1)::int as once from integration.webhook_inbox where connection_id = $1', [connection.id])
    assert.deepEqual(inbox, { enqueued: ids.length, once: ids.length })
    const names = await rig.db.adminQuery<{ n: number }>("select count(*)::int as n from integration.records where connection_id = $1 and data->>'givenName' = 'Burst'", [connection.id])
    assert.equal(names[0]?.n, ids.length, 'every record written from its event (the provider knows none of these customers)')
  })
})

describe('the version guard in the bulk upsert', () => {
  test('a batch older than the stored records leaves them, counts them unchanged, and a full run still counts them seen', async () => {
    const { connection } = await connectStripe()
    const tenantId = (await rig.db.adminQuery<{ tenant_id: string }>('select tenant_id from integration.connections where id = $1', [connection.id]))[0]?.tenant_id as string
    const scope = { tenantId, venueId: connection.venueId, connectionId: connection.id, provider: 'stripe' as const, entity: 'customer' as const }
    const repository = createRecordRepository()
    const record = (id: string, name: string) => ({
      entity: 'customer' as const,
      externalId: id,
      data: { email: null, givenName: name, familyName: null, phone: null, companyName: null, createdAt: null },
      raw: { id, name },
      updatedAt: null,
    })
    const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds)).toISOString()
    const write = async (rows: ReturnType<typeof prepareRecords>['rows'], seenBy: string | null = null) => {
      const { ids, ...counts } = await app.db.withTenant(tenantId, (trx) => repository.upsertBatch(trx, scope, rows, seenBy))
      return { ...counts, written: [...ids.created, ...ids.updated].sort() }
    }

    assert.deepEqual(await write(prepareRecords([record('a', 'A2'), record('b', 'B2')], [], at(20)).rows), { created: 2, updated: 0, unchanged: 0, written: ['a', 'b'] })
    // Older content for both, newer for a third: only the third is written.
    assert.deepEqual(await write(prepareRecords([record('a', 'A1'), record('b', 'B1'), record('c', 'C1')], [], at(10)).rows), { created: 1, updated: 0, unchanged: 2, written: ['c'] })
    const names = await rig.db.adminQuery<{ external_id: string; name: string }>("select external_id, data->>'givenName' as name from integration.records where connection_id = $1 order by external_id", [connection.id])
    assert.deepEqual(
      names.map((row) => [row.external_id, row.name]),
      [
        ['a', 'A2'],
        ['b', 'B2'],
        ['c', 'C1'],
      ],
    )
    // Newer content replaces; a deletion older than the record does not apply.
    assert.deepEqual(await write(prepareRecords([record('a', 'A3')], [], at(30)).rows), { created: 0, updated: 1, unchanged: 0, written: ['a'] })
    assert.deepEqual(await app.db.withTenant(tenantId, (trx) => repository.markDeleted(trx, scope, ['a', 'b'], at(15))), [])
    assert.deepEqual(await app.db.withTenant(tenantId, (trx) => repository.markDeleted(trx, scope, ['b'], at(25))), ['b'])

    // A full run whose page is older than a stored record: the record is noted as seen, so the sweep spares it.
    const syncLogId = randomUUID()
    await write(prepareRecords([record('a', 'A0'), record('c', 'C1')], [], at(5)).rows, syncLogId)
    const swept = await app.db.withTenant(tenantId, (trx) => repository.sweepUnseen(trx, scope, syncLogId, new Date()))
    assert.deepEqual(swept, [])
    assert.equal((await recordOf(connection.id, 'a'))?.data.givenName, 'A3')
  })
})
