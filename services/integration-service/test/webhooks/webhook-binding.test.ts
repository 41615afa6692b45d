// What binds a webhook event to a connection: QuickBooks events go to the connection of their
// realm (one app endpoint, one verifier), and a Stripe, Square or Mailchimp event naming another
// account, merchant or audience than its connection's is refused even when properly signed.
import assert from 'node:assert/strict'
import { createHmac, randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { ConfigError } from '@hub/service-kit'
import type { ServiceInstance } from '@hub/service-kit'
import { loadConfig } from '../../src/config.ts'
import { setupIntegrationTests } from '../helpers.ts'
import { intuitDelivery, mailchimpForm, seedConnection, squareDelivery, stripeDelivery } from './webhook-fixtures.ts'

const tests = await setupIntegrationTests()
const VERIFIER = `intuit-app-verifier-${randomUUID()}`

const inbox = async (connectionId: string) =>
  (await tests.db.adminQuery<{ tenant_id: string; payload: { realmId?: string } }>('select tenant_id, payload from integration.webhook_inbox where connection_id = $1', [connectionId])).map((row) => row.payload.realmId ?? null)

async function post(app: ServiceInstance, url: string, delivery: { headers: Record<string, string>; payload: string }) {
  return app.inject({ method: 'POST', url, headers: delivery.headers, payload: delivery.payload })
}

test('QuickBooks: a signed batch of 9,000 changes for one realm (under the body limit) is stored whole, not a 500 Intuit would retry', async () => {
  const app = await tests.build({ QUICKBOOKS_WEBHOOK_VERIFIER: VERIFIER })
  const realm = String(Date.now() + 7)
  const connection = await seedConnection(app, { provider: 'quickbooks', accountId: realm, webhookSecret: VERIFIER })
  const lastUpdated = new Date().toISOString()
  // Eight parameters a stored row: 9,000 rows in one statement would pass Postgres's 65,535.
  const entities = Array.from({ length: 9_000 }, (_, i) => ({ name: 'Customer', id: String(i + 1), operation: 'Update', lastUpdated }))
  const payload = JSON.stringify({ eventNotifications: [{ realmId: realm, dataChangeEvent: { entities } }] })
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/integrations/webhooks/quickbooks',
    headers: { 'content-type': 'application/json', 'intuit-signature': createHmac('sha256', VERIFIER).update(payload).digest('base64') },
    payload,
  })
  assert.equal(response.statusCode, 200, response.body)
  assert.deepEqual(response.json(), { received: 9_000, duplicates: 0, ignored: 0 })
  const [stored] = await tests.db.adminQuery<{ n: string }>('select count(*) as n from integration.webhook_inbox where connection_id = $1', [connection.id])
  assert.equal(stored?.n, '9000')
  // The same delivery again (Intuit retries): every event a duplicate, nothing stored twice.
  const again = await app.inject({
    method: 'POST',
    url: '/api/v1/integrations/webhooks/quickbooks',
    headers: { 'content-type': 'application/json', 'intuit-signature': createHmac('sha256', VERIFIER).update(payload).digest('base64') },
    payload,
  })
  assert.deepEqual(again.json(), { received: 0, duplicates: 9_000, ignored: 0 })
})

test('QuickBooks: one app endpoint, each event filed under the connection of its realm, unknown realms dropped', async () => {
  const app = await tests.build({ QUICKBOOKS_WEBHOOK_VERIFIER: VERIFIER })
  const realmA = String(Date.now())
  const realmB = String(Date.now() + 1)
  const a = await seedConnection(app, { provider: 'quickbooks', accountId: realmA, webhookSecret: VERIFIER })
  const b = await seedConnection(app, { provider: 'quickbooks', accountId: realmB, webhookSecret: VERIFIER })

  const response = await post(app, '/api/v1/integrations/webhooks/quickbooks', intuitDelivery(VERIFIER, [realmA, realmB, '999999999']))
  assert.equal(response.statusCode, 200, response.body)
  assert.deepEqual(response.json(), { received: 2, duplicates: 0, ignored: 1 })
  assert.deepEqual(await inbox(a.id), [realmA])
  assert.deepEqual(await inbox(b.id), [realmB])

  const forged = await post(app, '/api/v1/integrations/webhooks/quickbooks', intuitDelivery('somebody-elses-verifier', [realmA], '2'))
  assert.deepEqual([forged.statusCode, forged.json().code], [401, 'WEBHOOK_SIGNATURE_INVALID'])
  assert.deepEqual(await inbox(a.id), [realmA], 'nothing stored from a forged notification')
})

test("QuickBooks: the old per-connection URL routes by realm too, never filing another realm's event under its connection", async () => {
  const app = await tests.build({ QUICKBOOKS_WEBHOOK_VERIFIER: VERIFIER })
  const realmA = String(Date.now() + 10)
  const realmB = String(Date.now() + 11)
  const attacker = await seedConnection(app, { provider: 'quickbooks', accountId: realmA, webhookSecret: VERIFIER })
  const victim = await seedConnection(app, { provider: 'quickbooks', accountId: realmB, webhookSecret: VERIFIER })

  const response = await post(app, `/api/v1/integrations/webhooks/quickbooks/${attacker.id}`, intuitDelivery(VERIFIER, [realmB], '7'))
  assert.equal(response.statusCode, 200, response.body)
  assert.deepEqual(await inbox(attacker.id), [], "the victim's realm is not stored under the connection of the URL")
  assert.deepEqual(await inbox(victim.id), [realmB])
  const unknownRealm = await post(app, `/api/v1/integrations/webhooks/quickbooks/${attacker.id}`, intuitDelivery(VERIFIER, ['424242'], '8'))
  assert.deepEqual(unknownRealm.json(), { received: 0, duplicates: 0, ignored: 1 })
  assert.deepEqual(await inbox(attacker.id), [])
})

test('QuickBooks: a signed realm id with a NUL byte is acknowledged and dropped before the realm lookup, never a 5xx', async () => {
  const app = await tests.build({ QUICKBOOKS_WEBHOOK_VERIFIER: VERIFIER })
  const realm = String(Date.now() + 30)
  const connection = await seedConnection(app, { provider: 'quickbooks', accountId: realm, webhookSecret: VERIFIER })
  const inboxRows = async () => (await tests.db.adminQuery<{ n: string }>('select count(*) as n from integration.webhook_inbox'))[0]?.n

  const mixed = await post(app, '/api/v1/integrations/webhooks/quickbooks', intuitDelivery(VERIFIER, [`${realm}\u0000`, realm], '9'))
  assert.equal(mixed.statusCode, 200, mixed.body)
  assert.deepEqual(mixed.json(), { received: 1, duplicates: 0, ignored: 1 })
  assert.deepEqual(await inbox(connection.id), [realm], "only the clean realm's event is stored; the NUL one is not filed under its prefix")

  const before = await inboxRows()
  const nulOnly = await post(app, '/api/v1/integrations/webhooks/quickbooks', intuitDelivery(VERIFIER, ['1\u0000'], '10'))
  assert.equal(nulOnly.statusCode, 200, nulOnly.body)
  assert.deepEqual(nulOnly.json(), { received: 0, duplicates: 0, ignored: 1 })
  assert.equal(await inboxRows(), before, 'no inbox row for that realm')
})

test('QuickBooks: without a configured verifier every delivery is refused', async () => {
  const app = await tests.build()
  const realm = String(Date.now() + 20)
  const connection = await seedConnection(app, { provider: 'quickbooks', accountId: realm, webhookSecret: VERIFIER })
  for (const url of ['/api/v1/integrations/webhooks/quickbooks', `/api/v1/integrations/webhooks/quickbooks/${connection.id}`]) {
    const response = await post(app, url, intuitDelivery(VERIFIER, [realm]))
    assert.deepEqual([response.statusCode, response.json().code], [401, 'WEBHOOK_SIGNATURE_INVALID'], url)
  }
  assert.deepEqual(await inbox(connection.id), [])
})

test('Stripe, Square and Mailchimp: a signed event naming another account, merchant or audience is refused', async () => {
  const app = await tests.build({ PUBLIC_URL: 'https://hub.example.test' })
  const stripeSecret = 'whsec_binding000000000000000000001'
  const stripe = await seedConnection(app, { provider: 'stripe', webhookSecret: stripeSecret, accountId: 'acct_mine0001' })
  const stripeUrl = `/api/v1/integrations/webhooks/stripe/${stripe.id}`
  const foreignStripe = await post(app, stripeUrl, stripeDelivery(stripeSecret, { account: 'acct_theirs001' }))
  assert.deepEqual([foreignStripe.statusCode, foreignStripe.json().code], [401, 'WEBHOOK_SIGNATURE_INVALID'])
  assert.equal((await post(app, stripeUrl, stripeDelivery(stripeSecret, { account: 'acct_mine0001' }))).statusCode, 200)
  assert.equal((await post(app, stripeUrl, stripeDelivery(stripeSecret))).statusCode, 200, "the account's own endpoint: events carry no account")

  const squareKey = 'square-binding-key-0001'
  const square = await seedConnection(app, { provider: 'square', webhookSecret: squareKey, accountId: 'MERCHANT_MINE' })
  const squarePath = `/api/v1/integrations/webhooks/square/${square.id}`
  const foreignSquare = await post(app, squarePath, squareDelivery(squareKey, `https://hub.example.test${squarePath}`, { merchantId: 'MERCHANT_THEIRS' }))
  assert.deepEqual([foreignSquare.statusCode, foreignSquare.json().code], [401, 'WEBHOOK_SIGNATURE_INVALID'])
  assert.equal((await post(app, squarePath, squareDelivery(squareKey, `https://hub.example.test${squarePath}`, { merchantId: 'MERCHANT_MINE' }))).statusCode, 200)

  const mailchimpSecret = 'mailchimp-binding-secret-1'
  const mailchimp = await seedConnection(app, { provider: 'mailchimp', webhookSecret: mailchimpSecret, webhookEndpointId: 'list_a:wh1,list_b:wh2' })
  const mailchimpUrl = `/api/v1/integrations/webhooks/mailchimp/${mailchimp.id}?secret=${mailchimpSecret}`
  const form = (listId: string) => ({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: mailchimpForm({ 'data[list_id]': listId, 'data[email]': `${randomUUID()}@example.org` }) })
  const foreignList = await post(app, mailchimpUrl, form('list_other'))
  assert.deepEqual([foreignList.statusCode, foreignList.json().code], [401, 'WEBHOOK_SIGNATURE_INVALID'])
  assert.equal((await post(app, mailchimpUrl, form('list_b'))).statusCode, 200)

  const stored = await tests.db.adminQuery<{ connection_id: string }>('select connection_id from integration.webhook_inbox where connection_id = any($1::uuid[])', [[stripe.id, square.id, mailchimp.id]])
  assert.equal(stored.length, 4, 'only the events of the connections own accounts were stored')
})

test('production refuses to start without a QuickBooks verifier or with a development one', () => {
  const base = { ...tests.env, NODE_ENV: 'production' }
  const problemsOf = (env: Record<string, string>): string[] => {
    try {
      loadConfig(env)
      return []
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error))
      return error.problems
    }
  }
  const about = (problems: string[]) => problems.filter((problem) => problem.startsWith('QUICKBOOKS_WEBHOOK_VERIFIER'))
  assert.equal(about(problemsOf(base)).length, 1, 'missing')
  assert.equal(about(problemsOf({ ...base, QUICKBOOKS_WEBHOOK_VERIFIER: 'devhub-quickbooks-verifier' })).length, 1, 'the dev-stack default')
  assert.deepEqual(about(problemsOf({ ...base, QUICKBOOKS_WEBHOOK_VERIFIER: `prod-${randomUUID()}` })), [])
  assert.deepEqual(about(problemsOf({ ...tests.env, NODE_ENV: 'development' })), [], 'development may run without one')
})
