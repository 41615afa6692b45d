// Webhook events on the critical queue (from the signed intake route to the record, processed
// once however often delivered, relayed when they missed Redis), the critical queue never
// waiting behind a low backlog, and push jobs to Mailchimp and QuickBooks.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ServiceInstance } from '@hub/service-kit'
import type { JobData } from '../../src/plugins/app/sync/sync-queues.ts'
import { setupSyncRig } from './sync-rig.ts'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const rig = await setupSyncRig({ sims: { stripe: { recordsPerEntity: 25 }, mailchimp: { recordsPerEntity: 10 }, quickbooks: { recordsPerEntity: 5 } } })

async function syncAll(app: ServiceInstance, tenantId: string, venueId: string, connectionId: string): Promise<void> {
  const { jobs } = await app.syncEngine.enqueueSync({ tenantId, venueId, connectionId, mode: 'full', trigger: 'manual', queue: 'high' })
  for (const job of jobs) assert.equal((await rig.waitForLog(job.syncLogId)).status, 'succeeded')
}

async function inboxRow(tenantId: string, connectionId: string, entity: string, externalId: string, received = 'now()'): Promise<string> {
  const [row] = await rig.db.adminQuery<{ id: string }>(
    `insert into integration.webhook_inbox (tenant_id, connection_id, provider, event_id, event_type, entity, external_id, payload, received_at)
     values ($1, $2, 'stripe', $3, 'customer.updated', $4, $5, '{}'::jsonb, ${received}) returning id`,
    [tenantId, connectionId, `evt_${randomUUID()}`, entity, externalId],
  )
  return row?.id as string
}

const recordOf = async (connectionId: string, externalId: string) =>
  (await rig.db.adminQuery<Json>('select data, change_seq::text, updated_at::text, deleted_at from integration.records where connection_id = $1 and external_id = $2', [connectionId, externalId]))[0]

describe('webhook events', () => {
  test('a signed delivery goes from the intake route through the critical queue to the record', async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}intake:` }, { worker: true })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
    const tenantId = randomUUID()
    const account = await rig.account('stripe')
    const secret = `whsec_${randomUUID().replaceAll('-', '')}`
    const connection = await rig.connect(app, { tenantId, provider: 'stripe', ...account, secrets: { ...account.secrets, webhookSecret: secret } })
    await syncAll(app, tenantId, connection.venueId, connection.id)
    const customerId = ((await rig.control('stripe', 'GET', `/_sim/accounts/${account.accountId}/customer`)).ids as string[])[0] as string
    await rig.control('stripe', 'PATCH', `/_sim/accounts/${account.accountId}/customer/${customerId}`, { name: 'Webhook Renamed' })

    const fired = await rig.control('stripe', 'POST', '/_sim/webhooks/fire', { accountId: account.accountId, type: 'customer.updated', objectId: customerId, url: `${base}/api/v1/integrations/webhooks/stripe/${connection.id}`, secret })
    assert.equal(fired.deliveries[0]?.status, 200, JSON.stringify(fired.deliveries))
    const deadline = Date.now() + 10_000
    let record = await recordOf(connection.id, customerId)
    while (record?.data.givenName !== 'Webhook' && Date.now() < deadline) {
      await sleep(100)
      record = await recordOf(connection.id, customerId)
    }
    assert.deepEqual([record?.data.givenName, record?.data.familyName], ['Webhook', 'Renamed'])
    const [inbox] = await rig.db.adminQuery<Json>('select processed_at, enqueued_at, attempts from integration.webhook_inbox where connection_id = $1', [connection.id])
    assert.ok(inbox?.enqueued_at && inbox.processed_at, 'enqueued by the intake, then processed')
    const [log] = await rig.db.adminQuery<Json>("select * from integration.sync_logs where connection_id = $1 and trigger = 'webhook'", [connection.id])
    assert.deepEqual([log?.status, log?.queue, log?.entity, log?.records_updated, log?.kind], ['succeeded', 'integration-critical', 'customer', 1, 'webhook'])

    // The same delivery again: acknowledged, stored once, nothing changes.
    const delivery = fired.deliveries[0] as { payload: string; headers: Record<string, string> }
    const again = await fetch(`${base}/api/v1/integrations/webhooks/stripe/${connection.id}`, { method: 'POST', headers: delivery.headers, body: delivery.payload })
    assert.equal(again.status, 200)
    assert.deepEqual(await again.json(), { received: 0, duplicates: 1, ignored: 0 })
    await sleep(300)
    assert.equal((await rig.db.adminQuery<Json>("select id from integration.sync_logs where connection_id = $1 and trigger = 'webhook'", [connection.id])).length, 1, 'processed once')
  })

  test("a QuickBooks notification from the Intuit simulator at the app endpoint is processed for its realm's connection only", async () => {
    const verifier = `intuit-verifier-${randomUUID()}`
    // The under-pressure guard would answer 503 on a loaded test machine; it is not what this test is about.
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}qbo-app:`, QUICKBOOKS_WEBHOOK_VERIFIER: verifier, MAX_EVENT_LOOP_DELAY_MS: '0' }, { worker: true })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
    const [realmA, realmB] = [await rig.account('quickbooks'), await rig.account('quickbooks')]
    const a = await rig.connect(app, { tenantId: randomUUID(), provider: 'quickbooks', ...realmA })
    const b = await rig.connect(app, { tenantId: randomUUID(), provider: 'quickbooks', ...realmB })

    const fired = await rig.control('quickbooks', 'POST', '/_sim/webhooks/fire', { accountId: realmA.accountId, type: 'Customer.Update', url: `${base}/api/v1/integrations/webhooks/quickbooks`, verifierToken: verifier })
    assert.equal(fired.status, 200, JSON.stringify(fired))
    const deadline = Date.now() + 10_000
    let log = (await rig.db.adminQuery<Json>("select status from integration.sync_logs where connection_id = $1 and trigger = 'webhook'", [a.id]))[0]
    while (log?.status !== 'succeeded' && Date.now() < deadline) {
      await sleep(100)
      log = (await rig.db.adminQuery<Json>("select status from integration.sync_logs where connection_id = $1 and trigger = 'webhook'", [a.id]))[0]
    }
    assert.equal(log?.status, 'succeeded')
    assert.equal((await rig.db.adminQuery<Json>('select id from integration.webhook_inbox where connection_id = $1', [b.id])).length, 0, "the other realm's connection got nothing")

    const forged = await rig.control('quickbooks', 'POST', '/_sim/webhooks/fire', { accountId: realmB.accountId, type: 'Customer.Update', url: `${base}/api/v1/integrations/webhooks/quickbooks`, verifierToken: 'not-the-app-verifier' })
    assert.equal(forged.status, 401)
    assert.equal((await rig.db.adminQuery<Json>('select id from integration.webhook_inbox where connection_id = $1', [b.id])).length, 0)
  })

  test('the same inbox row processed twice changes nothing the second time; a deletion is applied', async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}twice:` }, { worker: true })
    const tenantId = randomUUID()
    const account = await rig.account('stripe')
    const connection = await rig.connect(app, { tenantId, provider: 'stripe', ...account })
    await syncAll(app, tenantId, connection.venueId, connection.id)
    const [first, second] = (await rig.control('stripe', 'GET', `/_sim/accounts/${account.accountId}/customer`)).ids as string[]
    await rig.control('stripe', 'PATCH', `/_sim/accounts/${account.accountId}/customer/${first}`, { email: 'changed@example.org' })
    const inboxId = await inboxRow(tenantId, connection.id, 'customer', first as string)

    const jobId = await app.syncEngine.enqueueWebhook({ tenantId, connectionId: connection.id, inboxId })
    const job = await app.syncEngine.queues.critical.getJob(jobId)
    assert.equal(((await job?.finished()) as Json).status, 'succeeded')
    const after = await recordOf(connection.id, first as string)
    assert.equal(after?.data.email, 'changed@example.org')

    const data = job?.data as JobData
    const duplicate = await app.syncEngine.queues.critical.add('webhook', data, { jobId: `${jobId}-redelivered` })
    assert.equal(((await duplicate.finished()) as Json).status, 'skipped')
    assert.deepEqual(await recordOf(connection.id, first as string), after, 'the record is untouched')
    const logs = await rig.db.adminQuery<Json>("select id from integration.sync_logs where connection_id = $1 and kind = 'webhook'", [connection.id])
    assert.equal(logs.length, 1, 'one sync log row for the event')

    await rig.control('stripe', 'DELETE', `/_sim/accounts/${account.accountId}/customer/${second}`)
    const deleteJob = await app.syncEngine.queues.critical.getJob(await app.syncEngine.enqueueWebhook({ tenantId, connectionId: connection.id, inboxId: await inboxRow(tenantId, connection.id, 'customer', second as string) }))
    const deleted = (await deleteJob?.finished()) as Json
    assert.equal(deleted.counts.deleted, 1)
    assert.ok((await recordOf(connection.id, second as string))?.deleted_at, 'the deletion is applied')
  })

  test('an event queued before Redis restarted empty is handed over again and processed once; a dead-lettered one is left alone', async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}requeue:`, SYNC_WEBHOOK_REQUEUE_AFTER_MS: '1000' }, { worker: true })
    const tenantId = randomUUID()
    const account = await rig.account('stripe')
    const connection = await rig.connect(app, { tenantId, provider: 'stripe', ...account })
    const [customerId, otherId] = (await rig.control('stripe', 'GET', `/_sim/accounts/${account.accountId}/customer`)).ids as string[]
    // Both were handed to the queue a minute ago, and Redis has no job for either (it was emptied).
    const lost = await inboxRow(tenantId, connection.id, 'customer', customerId as string, "now() - interval '1 minute'")
    const dead = await inboxRow(tenantId, connection.id, 'customer', otherId as string, "now() - interval '1 minute'")
    await rig.db.adminQuery("update integration.webhook_inbox set enqueued_at = now() - interval '1 minute', announced_at = now() where id = any($1::uuid[])", [[lost, dead]])
    await rig.db.adminQuery("insert into integration.dead_letters (tenant_id, queue, job_name, job_id, payload, attempts) values ($1, 'integration-critical', 'webhook', $2, '{}'::jsonb, 6)", [tenantId, `webhook-${dead}`])
    const deadBefore = (await rig.db.adminQuery<Json>('select enqueued_at from integration.webhook_inbox where id = $1', [dead]))[0]?.enqueued_at as Date

    const deadline = Date.now() + 15_000
    let row: Json | undefined
    do {
      await sleep(200)
      row = (await rig.db.adminQuery<Json>('select processed_at, attempts from integration.webhook_inbox where id = $1', [lost]))[0]
    } while (!row?.processed_at && Date.now() < deadline)
    assert.ok(row?.processed_at, 'the lost job was re-created and processed')
    assert.ok((await recordOf(connection.id, customerId as string))?.data, 'the record arrived through the webhook')
    // Further passes find nothing to hand over: processed once, the dead-lettered event untouched.
    await sleep(2_500)
    const logs = await rig.db.adminQuery<Json>("select id from integration.sync_logs where connection_id = $1 and kind = 'webhook'", [connection.id])
    assert.equal(logs.length, 1, 'one run for the re-created job')
    const deadAfter = (await rig.db.adminQuery<Json>('select processed_at, enqueued_at from integration.webhook_inbox where id = $1', [dead]))[0]
    assert.equal(deadAfter?.processed_at, null)
    assert.equal((deadAfter?.enqueued_at as Date).getTime(), deadBefore.getTime(), 'a dead-lettered event is not handed over again')
    assert.equal(await app.syncEngine.queues.critical.getJob(`webhook-${dead}`), null)
  })

  test('a stored event that never reached Redis is relayed and processed', async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}relay:` }, { worker: true })
    const tenantId = randomUUID()
    const account = await rig.account('stripe')
    const connection = await rig.connect(app, { tenantId, provider: 'stripe', ...account })
    const [customerId] = (await rig.control('stripe', 'GET', `/_sim/accounts/${account.accountId}/customer`)).ids as string[]
    const inboxId = await inboxRow(tenantId, connection.id, 'customer', customerId as string, "now() - interval '1 minute'")
    const deadline = Date.now() + 15_000
    let row: Json | undefined
    do {
      await sleep(200)
      row = (await rig.db.adminQuery<Json>('select processed_at, enqueued_at from integration.webhook_inbox where id = $1', [inboxId]))[0]
    } while (!row?.processed_at && Date.now() < deadline)
    assert.ok(row?.enqueued_at && row.processed_at, 'relayed and processed')
    assert.ok((await recordOf(connection.id, customerId as string))?.data, 'the record arrived through the webhook')
  })
})

describe('priorities', () => {
  test('a critical job starts within a second while 10,000 low jobs wait', async (t) => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}priority:` }, { worker: true })
    const tenantId = randomUUID()
    const account = await rig.account('stripe')
    const connection = await rig.connect(app, { tenantId, provider: 'stripe', ...account })
    const [customerId] = (await rig.control('stripe', 'GET', `/_sim/accounts/${account.accountId}/customer`)).ids as string[]
    const { low, critical } = app.syncEngine.queues

    // 10,000 batch jobs (pushes of runs that no longer exist: each ends at once when it runs).
    const backlog = Array.from({ length: 10_000 }, (_, i) => ({
      name: 'push',
      data: { kind: 'push', tenantId, venueId: connection.venueId, connectionId: connection.id, operation: 'mailchimp.upsert_contacts', syncLogId: randomUUID() } as JobData,
      opts: { jobId: `backlog-${i}` },
    }))
    const measure = async (label: string): Promise<number> => {
      const inboxId = await inboxRow(tenantId, connection.id, 'customer', customerId as string)
      const job = await critical.getJob(await app.syncEngine.enqueueWebhook({ tenantId, connectionId: connection.id, inboxId }))
      await job?.finished()
      const done = await critical.getJob(String(job?.id))
      const wait = (done?.processedOn ?? Number.POSITIVE_INFINITY) - (done?.timestamp ?? 0)
      assert.ok(wait < 1_000, `${label}: the critical job started ${wait} ms after it was added`)
      t.diagnostic(`${label}: the critical job started ${wait} ms after it was added`)
      return wait
    }

    // First with the low processor held, so all 10,000 are waiting.
    await low.pause(true)
    await low.addBulk(backlog.slice(0, 5_000))
    await low.addBulk(backlog.slice(5_000))
    assert.equal((await low.getJobCounts()).waiting, 10_000)
    await measure('low backlog held')
    assert.equal((await low.getJobCounts()).waiting, 10_000, 'the low jobs are still waiting')

    // Then with the low processor draining its backlog at the same time.
    low.resume(true).catch(() => undefined)
    await sleep(200)
    const waitingNow = (await low.getJobCounts()).waiting
    assert.ok(waitingNow > 5_000, `the backlog is still there (${waitingNow})`)
    await measure('low backlog draining')
    await low.pause(true)
  })
})

describe('push jobs', () => {
  test("Mailchimp: the venue's customers become audience members; a second push sends nothing", async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}mailchimp:` }, { worker: true })
    const tenantId = randomUUID()
    const venueId = randomUUID()
    const stripeAccount = await rig.account('stripe')
    const stripe = await rig.connect(app, { tenantId, venueId, provider: 'stripe', ...stripeAccount })
    const mailchimpAccount = await rig.account('mailchimp')
    const mailchimp = await rig.connect(app, { tenantId, venueId, provider: 'mailchimp', ...mailchimpAccount })
    await syncAll(app, tenantId, venueId, stripe.id)
    await syncAll(app, tenantId, venueId, mailchimp.id)
    const customers = await rig.db.adminQuery<Json>("select data->>'email' as email from integration.records where connection_id = $1 and entity = 'customer'", [stripe.id])
    assert.equal(customers.length, 25)

    // A customer whose address the audience already holds as a subscriber is left alone (pushing
    // would only demote them to transactional). The simulators draw names at random, so now and
    // then a customer and a seeded member share an address.
    const subscribed = new Set(
      (await rig.db.adminQuery<Json>("select lower(data->>'email') as email from integration.records where connection_id = $1 and entity = 'contact' and deleted_at is null and data->>'status' <> 'transactional'", [mailchimp.id])).map(
        (contact) => String(contact.email),
      ),
    )
    const toPush = customers.filter((customer) => !subscribed.has(String(customer.email).toLowerCase())).length

    const push = await app.syncEngine.enqueuePush({ tenantId, venueId, connectionId: mailchimp.id, operation: 'mailchimp.upsert_contacts' })
    assert.equal(push.queue, 'integration-low')
    const log = await rig.waitForLog(push.syncLogId)
    assert.equal(log.status, 'succeeded', `${String(log.error_code)} ${String(log.error_message)}`)
    assert.deepEqual([log.records_fetched, log.records_created, log.records_failed, log.provider, log.entity], [toPush, toPush, 0, 'mailchimp', 'customer'])
    const members = (await rig.control('mailchimp', 'GET', `/_sim/accounts/${mailchimpAccount.accountId}/contact`)).records as Json[]
    const emails = new Set(members.map((member) => String(member.email).toLowerCase()))
    for (const customer of customers) assert.ok(emails.has(String(customer.email).toLowerCase()), `${String(customer.email)} is a member`)
    assert.ok(members.filter((member) => member.status === 'transactional').length >= toPush)

    const again = await app.syncEngine.enqueuePush({ tenantId, venueId, connectionId: mailchimp.id, operation: 'mailchimp.upsert_contacts' })
    const second = await rig.waitForLog(again.syncLogId)
    assert.deepEqual([second.status, second.records_fetched, second.records_created], ['succeeded', 0, 0], 'nothing new to push')
    await assert.rejects(app.syncEngine.enqueuePush({ tenantId, venueId, connectionId: stripe.id, operation: 'mailchimp.upsert_contacts' }), (error: Json) => error.code === 'PUSH_TARGET_MISMATCH')
  })

  test('a push job delivered twice at once runs once: the second waits for the run lock, then finds the push ended', async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}push-twice:` }, { worker: true })
    const tenantId = randomUUID()
    const venueId = randomUUID()
    const stripe = await rig.connect(app, { tenantId, venueId, provider: 'stripe', ...(await rig.account('stripe')) })
    const mailchimp = await rig.connect(app, { tenantId, venueId, provider: 'mailchimp', ...(await rig.account('mailchimp')) })
    await syncAll(app, tenantId, venueId, stripe.id)
    await syncAll(app, tenantId, venueId, mailchimp.id)
    // Both deliveries wait until this worker takes them together (two at a time on the low queue).
    const low = app.syncEngine.queues.low
    await low.pause(true)
    const push = await app.syncEngine.enqueuePush({ tenantId, venueId, connectionId: mailchimp.id, operation: 'mailchimp.upsert_contacts' })
    const first = await low.getJob(push.jobId)
    assert.ok(first)
    const again = await low.add('push', first.data, { jobId: `${push.jobId}-again` })
    await low.resume(true)
    const results = (await Promise.all([first.finished(), again.finished()])) as Json[]
    assert.deepEqual(results.map((result) => result.status).sort(), ['skipped', 'succeeded'])
    const pushed = results.find((result) => result.status === 'succeeded')?.counts as Json
    assert.ok(pushed.fetched > 0, 'the push sent the customers')
    const log = await rig.waitForLog(push.syncLogId)
    assert.deepEqual([log.status, log.records_fetched, log.records_created], ['succeeded', pushed.fetched, pushed.created], 'the log keeps the push that ran')
  })

  test('QuickBooks: settled payments become sales receipts once, even when a batch is pushed again; refused ones make the push partial', async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}quickbooks:` }, { worker: true })
    const tenantId = randomUUID()
    const venueId = randomUUID()
    const stripeAccount = await rig.account('stripe')
    const stripe = await rig.connect(app, { tenantId, venueId, provider: 'stripe', ...stripeAccount })
    await syncAll(app, tenantId, venueId, stripe.id)
    const settled = await rig.db.adminQuery<Json>("select external_id, data->>'currency' as currency from integration.records where connection_id = $1 and entity = 'payment' and lower(data->>'status') = 'succeeded' order by external_id", [
      stripe.id,
    ])
    assert.ok(settled.length > 2, 'some payments are settled')
    // A company without multicurrency takes its home currency only: one payment in yen is refused.
    const home = settled[0]?.currency === 'JPY' ? 'USD' : 'GBP'
    await rig.db.adminQuery("update integration.records set data = jsonb_set(data, '{currency}', to_jsonb($1::text)) where connection_id = $2 and entity = 'payment' and lower(data->>'status') = 'succeeded'", [home, stripe.id])
    await rig.db.adminQuery("update integration.records set data = jsonb_set(data, '{currency}', '\"JPY\"') where connection_id = $1 and external_id = $2", [stripe.id, settled[0]?.external_id])
    const realm = await rig.control('quickbooks', 'POST', '/_sim/realms', { currency: home })
    const quickbooks = await rig.connect(app, {
      tenantId,
      venueId,
      provider: 'quickbooks',
      authType: 'oauth2',
      accountId: realm.realmId as string,
      secrets: { accessToken: realm.accessToken as string, refreshToken: realm.refreshToken as string },
    })
    const receipts = () => rig.control('quickbooks', 'GET', `/_sim/accounts/${realm.realmId as string}/salesreceipt`).then((body) => (body.records as Json[]).length)
    const receiptsBefore = await receipts()
    const accepted = settled.length - 1

    const push = await app.syncEngine.enqueuePush({ tenantId, venueId, connectionId: quickbooks.id, operation: 'quickbooks.sales_receipts' })
    const log = await rig.waitForLog(push.syncLogId)
    assert.deepEqual([log.status, log.records_fetched, log.records_created, log.records_failed], ['partial', settled.length, accepted, 1])
    assert.equal(log.error_code, 'RECORDS_REFUSED')
    assert.match(String(log.error_message), /1 of \d+ records refused; first: 6000: .*Multicurrency is not enabled/)
    assert.equal(await receipts(), receiptsBefore + accepted)

    // As if the worker crashed after QuickBooks answered but before push_state was written:
    // the same receipts go again with the same requestids, and QuickBooks creates none twice.
    await rig.db.adminQuery('delete from integration.push_state where destination_connection_id = $1', [quickbooks.id])
    const replay = await rig.waitForLog((await app.syncEngine.enqueuePush({ tenantId, venueId, connectionId: quickbooks.id, operation: 'quickbooks.sales_receipts' })).syncLogId)
    assert.deepEqual([replay.status, replay.records_created, replay.records_failed], ['partial', accepted, 1])
    assert.equal(await receipts(), receiptsBefore + accepted, 'no duplicate receipt')
    // Only the refused payment is tried again.
    const quiet = await rig.waitForLog((await app.syncEngine.enqueuePush({ tenantId, venueId, connectionId: quickbooks.id, operation: 'quickbooks.sales_receipts' })).syncLogId)
    assert.deepEqual([quiet.records_fetched, quiet.records_created, quiet.records_failed], [1, 0, 1])
    assert.equal(await receipts(), receiptsBefore + accepted)
  })
})
