// Data-subject requests on integration-service's side, against the Stripe simulator: a person is
// found by email across records and stored webhooks, erased (personal fields redacted, ids and
// amounts kept), nothing in the whole database mentions their email any more, a second erase
// changes nothing, and a full re-sync from a provider that still holds them stores them redacted.
import assert from 'node:assert/strict'
import { createHmac, randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ServiceInstance } from '@hub/service-kit'
import { searchDatabase, searchableColumnCount } from '@hub/service-kit/testing'
import { KeyRing, generateKeyRingJson } from '@hub/crypto'
import { createSubjectDataRepository } from '../../src/plugins/app/subject-data/subject-data-repository.ts'
import { createSubjectGuard } from '../../src/plugins/app/subject-data/subject-guard.ts'
import { setupSyncRig } from '../sync/sync-rig.ts'
import { signal, signedAs } from '../helpers.ts'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const rig = await setupSyncRig({ sims: { stripe: { recordsPerEntity: 25 } } })

async function internal(app: ServiceInstance, path: string, body: unknown, as: 'compliance-service' | 'venue-service' = 'compliance-service') {
  const payload = JSON.stringify(body)
  return app.inject({ method: 'POST', url: path, payload, headers: { ...signedAs(as, 'POST', path, payload), 'content-type': 'application/json' } })
}

async function fullSync(app: ServiceInstance, tenantId: string, venueId: string, connectionId: string): Promise<void> {
  const { jobs } = await app.syncEngine.enqueueSync({ tenantId, venueId, connectionId, entities: ['customer', 'payment'], mode: 'full', trigger: 'manual', queue: 'high' })
  for (const job of jobs) assert.equal((await rig.waitForLog(job.syncLogId)).status, 'succeeded')
}

test('an erased person leaves no trace of their email anywhere, stays erased through a full re-sync, and a repeated erase changes nothing', { timeout: 180_000 }, async () => {
  const app = await rig.build({}, { worker: true })
  const tenantId = randomUUID()
  const account = await rig.account('stripe')
  const connection = await rig.connect(app, { tenantId, provider: 'stripe', ...account })
  await fullSync(app, tenantId, connection.venueId, connection.id)

  // A customer with at least one payment, whose email no other customer shares.
  const customers = await rig.db.adminQuery<{ external_id: string; email: string }>("select external_id, data->>'email' as email from integration.records where connection_id = $1 and entity = 'customer' and data->>'email' is not null", [
    connection.id,
  ])
  const paid = await rig.db.adminQuery<{ customer: string }>("select distinct data->>'customerExternalId' as customer from integration.records where connection_id = $1 and entity = 'payment'", [connection.id])
  const person = customers.find((c) => paid.some((p) => p.customer === c.external_id) && customers.filter((o) => o.email.toLowerCase() === c.email.toLowerCase()).length === 1)
  assert.ok(person, 'the simulator seeded a customer with a payment')
  const email = person.email
  const payments = await rig.db.adminQuery<{ external_id: string; amount: number }>(
    "select external_id, (data->>'amount')::int as amount from integration.records where connection_id = $1 and entity = 'payment' and data->>'customerExternalId' = $2",
    [connection.id, person.external_id],
  )
  // A stored webhook about them (its raw payload carries their email).
  await app.db.withTenant(tenantId, (trx) =>
    trx('integration.webhook_inbox').insert({
      tenant_id: tenantId,
      connection_id: connection.id,
      provider: 'stripe',
      event_id: `evt_${randomUUID()}`,
      event_type: 'customer.updated',
      entity: 'customer',
      external_id: person.external_id,
      payload: JSON.stringify({ data: { object: { id: person.external_id, email, name: 'Someone' } } }),
      processed_at: new Date(),
    }),
  )
  assert.ok((await searchDatabase(rig.db.adminQuery, email)).length > 0, 'before: the email is stored')
  assert.ok((await searchableColumnCount(rig.db.adminQuery)) > 40, 'the search covers every textual column of every schema')

  // Search: found by email (mixed case), with the linked provider id; the export carries the content.
  const search = await internal(app, '/internal/subject-data/search', { tenantId, subject: { emails: [email.toUpperCase()], externalIds: [] }, includeData: true })
  assert.equal(search.statusCode, 200, search.body)
  const found = search.json() as Json
  assert.deepEqual(found.externalIds, [person.external_id])
  assert.equal(found.counts.records, 1 + payments.length)
  assert.equal(found.counts.webhook_inbox, 1)
  assert.ok(JSON.stringify(found.matches).toLowerCase().includes(email.toLowerCase()))

  // By provider id alone: the same rows.
  const byId = (await internal(app, '/internal/subject-data/search', { tenantId, subject: { emails: [], externalIds: [person.external_id] }, includeData: false })).json() as Json
  assert.deepEqual(byId.counts, found.counts)

  // Refusals: no identifier; a caller without the permission; another tenant finds nothing.
  assert.equal((await internal(app, '/internal/subject-data/search', { tenantId, subject: { emails: [], externalIds: [] }, includeData: false })).json().code, 'SUBJECT_IDENTIFIER_REQUIRED')
  assert.equal((await internal(app, '/internal/subject-data/erase', { tenantId, requestId: randomUUID(), subject: { emails: [email], externalIds: [] } }, 'venue-service')).statusCode, 403)
  assert.deepEqual((await internal(app, '/internal/subject-data/search', { tenantId: randomUUID(), subject: { emails: [email], externalIds: [] }, includeData: false })).json().counts, {
    records: 0,
    webhook_inbox: 0,
    dead_letters: 0,
    sync_logs: 0,
  })

  const requestId = randomUUID()
  const erase = await internal(app, '/internal/subject-data/erase', { tenantId, requestId, subject: { emails: [email], externalIds: [] } })
  assert.equal(erase.statusCode, 200, erase.body)
  assert.deepEqual(erase.json().redacted, { records: 1 + payments.length, webhook_inbox: 1, dead_letters: 0, sync_logs: 0 })
  assert.equal(erase.json().tombstones, 2, 'one for the email, one for the customer id')
  assert.deepEqual(await searchDatabase(rig.db.adminQuery, email), [], 'after the erase: no column of any table mentions the email')

  // What stays: the rows, their ids, amounts; what goes: the personal members.
  const [customer] = await rig.db.adminQuery<Json>("select data, raw from integration.records where connection_id = $1 and entity = 'customer' and external_id = $2", [connection.id, person.external_id])
  assert.equal(customer?.data.email, null)
  assert.equal(customer?.data.givenName, null)
  assert.equal(customer?.raw.id, person.external_id)
  assert.equal(customer?.raw.name, null)
  const after = await rig.db.adminQuery<{ external_id: string; amount: number; billing: unknown }>(
    "select external_id, (data->>'amount')::int as amount, raw->'billing_details' as billing from integration.records where connection_id = $1 and entity = 'payment' and data->>'customerExternalId' = $2",
    [connection.id, person.external_id],
  )
  assert.deepEqual(
    after.map((row) => ({ external_id: row.external_id, amount: row.amount })),
    payments.map((row) => ({ external_id: row.external_id, amount: row.amount })),
  )
  assert.ok(after.every((row) => row.billing === null))
  const tombstones = await rig.db.adminQuery<{ value_hash: string }>('select value_hash from integration.subject_tombstones where tenant_id = $1', [tenantId])
  assert.equal(tombstones.length, 2)

  // At least once: the same erase again finds nothing left to change.
  const again = await internal(app, '/internal/subject-data/erase', { tenantId, requestId, subject: { emails: [email], externalIds: [] } })
  assert.deepEqual(again.json(), { redacted: { records: 0, webhook_inbox: 0, dead_letters: 0, sync_logs: 0 }, tombstones: 2 })

  // The provider still has them: a full re-sync stores them redacted, and keeps every record live.
  const liveBefore = (await rig.liveIds(connection.id, 'customer')).length
  await fullSync(app, tenantId, connection.venueId, connection.id)
  assert.deepEqual(await searchDatabase(rig.db.adminQuery, email), [], 'after the re-sync: still no trace')
  assert.equal((await rig.liveIds(connection.id, 'customer')).length, liveBefore)
  // ...and a second re-sync finds the redacted records unchanged (the stored hash is the redacted one's).
  const { jobs } = await app.syncEngine.enqueueSync({ tenantId, venueId: connection.venueId, connectionId: connection.id, entities: ['customer'], mode: 'full', trigger: 'manual', queue: 'high' })
  const log = await rig.waitForLog((jobs[0] as { syncLogId: string }).syncLogId)
  assert.equal(log.records_updated, 0, JSON.stringify(log))
  assert.equal(log.records_created, 0)
  assert.ok(Number(log.records_unchanged) >= liveBefore)

  // A signed webhook about them, to the intake of another venue's connection to the same account:
  // stored redacted, and processing it (a fetch
  // from the simulator, which still has them) stores that venue's record redacted too.
  const webhookSecret = `whsec_${randomUUID().replaceAll('-', '')}`
  const hooked = await rig.connect(app, { tenantId, provider: 'stripe', secrets: { ...account.secrets, webhookSecret }, accountId: account.accountId })
  const created = Math.floor(Date.now() / 1000)
  const eventId = `evt_${randomUUID().replaceAll('-', '')}`
  const payload = JSON.stringify({ id: eventId, object: 'event', type: 'customer.updated', created, data: { object: { id: person.external_id, object: 'customer', email, name: 'Back Again' } } })
  const signature = createHmac('sha256', webhookSecret).update(`${created}.${payload}`).digest('hex')
  const delivered = await app.inject({ method: 'POST', url: `/api/v1/integrations/webhooks/stripe/${hooked.id}`, headers: { 'content-type': 'application/json', 'stripe-signature': `t=${created},v1=${signature}` }, payload })
  assert.equal(delivered.statusCode, 200, delivered.body)
  const inbox = await rig.db.adminQuery<Json>('select payload, processed_at from integration.webhook_inbox where event_id = $1', [eventId])
  assert.equal(inbox[0]?.payload.data.object.id, person.external_id)
  assert.equal(inbox[0]?.payload.data.object.email, null)
  const deadline = Date.now() + 60_000
  while ((await rig.db.adminQuery<Json>('select processed_at from integration.webhook_inbox where event_id = $1', [eventId]))[0]?.processed_at == null) {
    assert.ok(Date.now() < deadline, 'the webhook was processed')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const fetched = await rig.db.adminQuery<Json>("select data from integration.records where connection_id = $1 and entity = 'customer' and external_id = $2", [hooked.id, person.external_id])
  assert.equal(fetched.length, 1, 'the webhook stored the customer for the other venue')
  assert.equal(fetched[0]?.data.email, null)
  assert.deepEqual(await searchDatabase(rig.db.adminQuery, email), [], 'after the webhook: still no trace')

  // The guard on its own, for a payload that names the person only by email.
  const stored = await app.db.withTenant(tenantId, async (trx) => {
    const guarded = await app.subjectGuard.inboxEvents(trx, [
      {
        tenantId,
        connectionId: connection.id,
        provider: 'stripe',
        eventId: 'evt_x',
        eventType: 'customer.updated',
        entity: 'customer',
        externalId: 'cus_other',
        payload: { data: { object: { email: email.toUpperCase(), name: 'Back Again' } } },
      },
    ])
    return JSON.parse(JSON.stringify(guarded[0]?.payload)) as Json
  })
  assert.deepEqual(stored, { data: { object: { email: null, name: null } } })
})

test('a person is found and erased by their whole address: the longer addresses that contain it are other people', async () => {
  const app = await rig.build()
  const tenantId = randomUUID()
  const connection = await rig.connect(app, { tenantId, provider: 'stripe', ...(await rig.account('stripe')) })
  const email = `ann.${randomUUID().slice(0, 8)}@example.com`
  const payloads: Record<string, Json> = {
    cus_ann: { data: { object: { id: 'cus_ann', email } } },
    ch_note: { data: { object: { id: 'ch_note', metadata: { memo: `Refund asked for by\n${email.toUpperCase()}.` } } } },
    cus_joann: { data: { object: { id: 'cus_joann', email: `jo${email}` } } },
    cus_au: { data: { object: { id: 'cus_au', email: `${email}.au` } } },
    cus_dotted: { data: { object: { id: 'cus_dotted', email: `x.${email}` } } },
  }
  await app.db.withTenant(tenantId, (trx) =>
    trx('integration.webhook_inbox').insert(
      Object.entries(payloads).map(([id, payload]) => ({
        tenant_id: tenantId,
        connection_id: connection.id,
        provider: 'stripe',
        event_id: `evt_${randomUUID()}`,
        event_type: 'customer.updated',
        entity: 'customer',
        external_id: id,
        payload: JSON.stringify(payload),
        processed_at: new Date(),
      })),
    ),
  )
  const search = await internal(app, '/internal/subject-data/search', { tenantId, subject: { emails: [email], externalIds: [] }, includeData: false })
  assert.equal(search.statusCode, 200, search.body)
  assert.equal(search.json().counts.webhook_inbox, 2, 'their own event and the note that names them, not the three neighbours')

  const erase = await internal(app, '/internal/subject-data/erase', { tenantId, requestId: randomUUID(), subject: { emails: [email], externalIds: [] } })
  assert.equal(erase.statusCode, 200, erase.body)
  assert.equal(erase.json().redacted.webhook_inbox, 2)
  const stored = Object.fromEntries(
    (await rig.db.adminQuery<{ external_id: string; payload: Json }>('select external_id, payload from integration.webhook_inbox where tenant_id = $1', [tenantId])).map((row) => [row.external_id, row.payload]),
  )
  assert.equal(stored.cus_ann?.data.object.email, null)
  assert.equal(stored.ch_note?.data.object.metadata.memo, '[redacted]')
  for (const neighbour of ['cus_joann', 'cus_au', 'cus_dotted']) assert.deepEqual(stored[neighbour], payloads[neighbour], `${neighbour} is untouched`)
})

test('a sync refuses to store anything while a tombstone needs a key version the ring no longer holds', async () => {
  const guard = createSubjectGuard({
    ring: KeyRing.fromEnv(generateKeyRingJson([3])),
    repository: { tombstonesForWrite: async () => [{ kind: 'email', key_version: 2, value_hash: 'a'.repeat(64) }] },
  })
  const trx = {} as Parameters<typeof guard.records>[0]
  await assert.rejects(guard.records(trx, { tenantId: randomUUID(), entity: 'customer' }, [{ externalId: 'cus_1', data: {}, raw: {}, hash: 'h' }]), /key versions 2/)
})

test("a write reads the tombstones after the erase's barrier lets it through: one committed while it waited is seen", async () => {
  const app = await rig.build({})
  const tenantId = randomUUID()
  const repository = createSubjectDataRepository()
  const released = signal()
  const barrierTaken = signal()
  const erase = app.db.withTenant(tenantId, async (trx) => {
    await repository.awaitWritesInFlight(trx, tenantId)
    barrierTaken.fire()
    await released.reached
  })
  await barrierTaken.reached
  const write = app.db.withTenant(tenantId, (trx) => repository.tombstonesForWrite(trx, tenantId))
  assert.equal(await Promise.race([write.then(() => 'read'), sleep(300).then(() => 'waiting')]), 'waiting', 'the write waits for the barrier')
  // Committed after the write's statement began, before its lock was granted.
  await rig.db.adminQuery("insert into integration.subject_tombstones (tenant_id, request_id, kind, key_version, value_hash) values ($1, $2, 'email', 1, $3)", [tenantId, randomUUID(), 'b'.repeat(64)])
  released.fire()
  await erase
  assert.deepEqual(
    (await write).map((row) => row.value_hash),
    ['b'.repeat(64)],
  )
})

test('an erase waits for a write that read the tombstones before they existed, until that write commits', async () => {
  const app = await rig.build({})
  const tenantId = randomUUID()
  const repository = createSubjectDataRepository()
  const committing = signal()
  const read = signal()
  const write = app.db.withTenant(tenantId, async (trx) => {
    const tombstones = await repository.tombstonesForWrite(trx, tenantId)
    read.fire()
    await committing.reached
    return tombstones
  })
  await read.reached
  const erase = app.db.withTenant(tenantId, (trx) => repository.awaitWritesInFlight(trx, tenantId))
  assert.equal(await Promise.race([erase.then(() => 'through'), sleep(300).then(() => 'waiting')]), 'waiting', 'the erase waits for the write in flight')
  committing.fire()
  assert.deepEqual(await write, [])
  await erase
})
