// Wire-level tests of the Stripe simulator with plain fetch: what a client sees on the network.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import { after, before, describe, test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { createStripeSimulator, maskStripeKey, parseStripeForm } from '../src/stripe/index.ts'

const RECORDS = 120

let sim: FastifyInstance
let base: string
let keyCounter = 0

/** A fresh well-formed key, so each test gets its own account. */
function newKey(): string {
  keyCounter += 1
  return `sk_test_${'T'.repeat(20)}${String(keyCounter).padStart(6, '0')}`
}

async function api(key: string | null, method: string, path: string, form?: Record<string, string> | string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const init: RequestInit = { method, headers: { ...(key ? { Authorization: `Bearer ${key}` } : {}), ...headers } }
  if (form !== undefined) {
    init.body = typeof form === 'string' ? form : new URLSearchParams(form).toString()
    ;(init.headers as Record<string, string>)['Content-Type'] = 'application/x-www-form-urlencoded'
  }
  const response = await fetch(`${base}${path}`, init)
  const text = await response.text()
  return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} }
}

async function control(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

async function accountOf(key: string): Promise<string> {
  const { status, body } = await control('GET', `/_sim/accounts/lookup?credential=${encodeURIComponent(key)}`)
  assert.equal(status, 200)
  return body.accountId as string
}

type Listed = { id: string; created: number; [key: string]: unknown }

async function listAll(key: string, path: string, limit = 100): Promise<Listed[]> {
  const out: Listed[] = []
  let after: string | undefined
  for (;;) {
    const sep = path.includes('?') ? '&' : '?'
    const { status, body } = await api(key, 'GET', `${path}${sep}limit=${limit}${after ? `&starting_after=${after}` : ''}`)
    assert.equal(status, 200)
    const data = body.data as Listed[]
    out.push(...data)
    if (!body.has_more) return out
    after = data[data.length - 1]?.id
  }
}

before(async () => {
  sim = createStripeSimulator({ recordsPerEntity: RECORDS, seed: 'stripe-sim-test' })
  await sim.listen({ port: 0, host: '127.0.0.1' })
  base = `http://127.0.0.1:${(sim.server.address() as { port: number }).port}`
})

after(async () => {
  await sim.close()
})

describe('authentication', () => {
  test('no key: 401 with Stripe message, Basic challenge and a request id', async () => {
    const { status, headers, body } = await api(null, 'GET', '/v1/customers')
    assert.equal(status, 401)
    assert.equal(headers.get('www-authenticate'), 'Basic realm="Stripe"')
    assert.match(headers.get('request-id') ?? '', /^req_[A-Za-z0-9]{14}$/)
    const error = body.error as Record<string, unknown>
    assert.equal(error.type, 'invalid_request_error')
    assert.match(error.message as string, /^You did not provide an API key\. You need to provide your API key in the Authorization header/)
  })

  test('malformed key: 401 invalid_request_error with the key masked', async () => {
    const key = 'sk_test_not-a-real-key-abcd'
    const { status, body } = await api(key, 'GET', '/v1/customers')
    assert.equal(status, 401)
    assert.deepEqual(body, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided: sk_test_***************abcd' } })
    assert.equal(maskStripeKey(key), 'sk_test_***************abcd')
  })

  test('Basic auth with the key as user opens the same account as Bearer', async () => {
    const key = newKey()
    const viaBearer = await api(key, 'GET', '/v1/account')
    const basic = Buffer.from(`${key}:`).toString('base64')
    const viaBasic = await api(null, 'GET', '/v1/account', undefined, { Authorization: `Basic ${basic}` })
    assert.equal(viaBasic.status, 200)
    assert.equal(viaBasic.body.id, viaBearer.body.id)
    assert.match(viaBearer.body.id as string, /^acct_[A-Za-z0-9]{16}$/)
    assert.equal(viaBearer.body.object, 'account')
  })

  test('revoked key: 401 api_key_expired', async () => {
    const key = newKey()
    assert.equal((await api(key, 'GET', '/v1/customers?limit=1')).status, 200)
    assert.equal((await control('POST', '/_sim/credentials/revoke', { credential: key })).status, 200)
    const { status, body } = await api(key, 'GET', '/v1/customers?limit=1')
    assert.equal(status, 401)
    const error = body.error as Record<string, unknown>
    assert.equal(error.code, 'api_key_expired')
    assert.equal(error.type, 'invalid_request_error')
    assert.match(error.message as string, /^Expired API Key provided: sk_test_\*+\d{4}\./)
  })

  test('Stripe-Account for an account the key is not connected to: 403 account_invalid', async () => {
    const key = newKey()
    const other = await accountOf(newKey())
    const { status, body } = await api(key, 'GET', '/v1/customers', undefined, { 'Stripe-Account': other })
    assert.equal(status, 403)
    assert.equal((body.error as Record<string, unknown>).code, 'account_invalid')
  })

  test('the same key always opens the same deterministic account', async () => {
    const key = newKey()
    const first = await api(key, 'GET', '/v1/customers?limit=5')
    const other = createStripeSimulator({ recordsPerEntity: RECORDS, seed: 'stripe-sim-test' })
    const response = await other.inject({ method: 'GET', url: '/v1/customers?limit=5', headers: { authorization: `Bearer ${key}` } })
    await other.close()
    assert.deepEqual(
      (JSON.parse(response.body) as { data: Listed[] }).data.map((c) => c.id),
      (first.body.data as Listed[]).map((c) => c.id),
    )
  })
})

describe('parameters', () => {
  test('bracket notation in bodies and queries', () => {
    assert.deepEqual(parseStripeForm('metadata[a]=b&expand[]=x&expand[]=y&types[0]=c&types[1]=d&created[gte]=5&address[city]=L%C3%BCbeck&name=A+B'), {
      metadata: { a: 'b' },
      expand: ['x', 'y'],
      types: ['c', 'd'],
      created: { gte: '5' },
      address: { city: 'Lübeck' },
      name: 'A B',
    })
    assert.deepEqual(parseStripeForm('__proto__[x]=1&a[constructor]=2'), { a: {} })
  })

  test('create with metadata, address and expand; unknown parameter refused', async () => {
    const key = newKey()
    const created = await api(key, 'POST', '/v1/customers', 'email=ada%40example.com&name=Ada+Lovelace&metadata[tier]=gold&address[city]=London&expand[]=invoice_settings.default_payment_method')
    assert.equal(created.status, 200)
    assert.match(created.body.id as string, /^cus_[A-Za-z0-9]{14}$/)
    assert.deepEqual(created.body.metadata, { tier: 'gold' })
    assert.equal((created.body.address as Record<string, unknown>).city, 'London')
    assert.equal(created.body.livemode, false)

    const unknown = await api(key, 'POST', '/v1/customers', { nickname: 'x' })
    assert.equal(unknown.status, 400)
    assert.deepEqual(unknown.body.error, { type: 'invalid_request_error', code: 'parameter_unknown', param: 'nickname', message: 'Received unknown parameter: nickname', doc_url: 'https://stripe.com/docs/error-codes/parameter-unknown' })

    const badEmail = await api(key, 'POST', '/v1/customers', { email: 'nope' })
    assert.equal(badEmail.status, 400)
    assert.equal((badEmail.body.error as Record<string, unknown>).code, 'email_invalid')

    const missing = await api(key, 'GET', '/v1/customers/cus_doesnotexist00')
    assert.equal(missing.status, 404)
    assert.deepEqual(missing.body.error, {
      type: 'invalid_request_error',
      code: 'resource_missing',
      param: 'id',
      message: "No such customer: 'cus_doesnotexist00'",
      doc_url: 'https://stripe.com/docs/error-codes/resource-missing',
    })
  })

  test('unrecognized URL', async () => {
    const { status, body } = await api(newKey(), 'GET', '/v1/nothing_here')
    assert.equal(status, 404)
    assert.match((body.error as Record<string, unknown>).message as string, /^Unrecognized request URL \(GET: \/v1\/nothing_here\)/)
  })
})

describe('lists', () => {
  test('default limit 10, list envelope, newest first by created then id', async () => {
    const key = newKey()
    const { body } = await api(key, 'GET', '/v1/customers')
    assert.equal(body.object, 'list')
    assert.equal(body.url, '/v1/customers')
    assert.equal(body.has_more, true)
    assert.equal((body.data as Listed[]).length, 10)
    const all = await listAll(key, '/v1/customers', 7)
    assert.equal(all.length, RECORDS)
    assert.equal(new Set(all.map((c) => c.id)).size, RECORDS)
    for (let i = 1; i < all.length; i++) {
      const prev = all[i - 1] as Listed
      const cur = all[i] as Listed
      assert.ok(prev.created > cur.created || (prev.created === cur.created && prev.id > cur.id), `order at ${i}`)
    }
    assert.ok(
      all.some((c, i) => i > 0 && c.created === (all[i - 1] as Listed).created),
      'seed has same-second records',
    )
  })

  test('limit bounds and parameter errors carry param', async () => {
    const key = newKey()
    for (const [limit, message] of [
      ['0', 'This value must be greater than or equal to 1.'],
      ['101', 'This value must be less than or equal to 100.'],
      ['ten', 'Invalid integer: ten'],
    ] as const) {
      const { status, body } = await api(key, 'GET', `/v1/customers?limit=${limit}`)
      assert.equal(status, 400)
      assert.equal((body.error as Record<string, unknown>).param, 'limit')
      assert.equal((body.error as Record<string, unknown>).message, message)
      assert.equal((body.error as Record<string, unknown>).type, 'invalid_request_error')
    }
    assert.equal((await api(key, 'GET', '/v1/customers?limit=100')).status, 200)
    const both = await api(key, 'GET', '/v1/customers?starting_after=cus_a&ending_before=cus_b')
    assert.equal(both.status, 400)
    const unknownCursor = await api(key, 'GET', '/v1/customers?starting_after=cus_unknown0000000')
    assert.equal(unknownCursor.status, 400)
    assert.equal((unknownCursor.body.error as Record<string, unknown>).param, 'starting_after')
    assert.equal((unknownCursor.body.error as Record<string, unknown>).code, 'resource_missing')
  })

  test('ending_before returns the adjacent newer page, still newest first', async () => {
    const key = newKey()
    const all = await listAll(key, '/v1/customers')
    const pivot = all[50] as Listed
    const { body } = await api(key, 'GET', `/v1/customers?limit=5&ending_before=${pivot.id}`)
    assert.deepEqual(
      (body.data as Listed[]).map((c) => c.id),
      all.slice(45, 50).map((c) => c.id),
    )
    assert.equal(body.has_more, true)
    const top = await api(key, 'GET', `/v1/customers?limit=5&ending_before=${(all[3] as Listed).id}`)
    assert.deepEqual(
      (top.body.data as Listed[]).map((c) => c.id),
      all.slice(0, 3).map((c) => c.id),
    )
    assert.equal(top.body.has_more, false)
  })

  test('created range filters and total_count', async () => {
    const key = newKey()
    const all = await listAll(key, '/v1/customers')
    const pivot = (all[40] as Listed).created
    const gte = await listAll(key, `/v1/customers?created[gte]=${pivot}`)
    assert.deepEqual(
      gte.map((c) => c.id),
      all.filter((c) => c.created >= pivot).map((c) => c.id),
    )
    const lt = await listAll(key, `/v1/customers?created[lt]=${pivot}`)
    assert.equal(lt.length + gte.length, RECORDS)
    const counted = await api(key, 'GET', `/v1/customers?limit=1&created[gte]=${pivot}&include[]=total_count`)
    assert.equal(counted.body.total_count, gte.length)
  })

  test('products expand their default price; charges their balance transaction', async () => {
    const key = newKey()
    const { body } = await api(key, 'GET', '/v1/products?limit=20&expand[]=data.default_price')
    const withPrice = (body.data as Array<Record<string, unknown>>).find((p) => p.default_price !== null) as Record<string, unknown>
    const price = withPrice.default_price as Record<string, unknown>
    assert.equal(price.object, 'price')
    assert.equal(price.product, withPrice.id)
    assert.equal(typeof price.unit_amount, 'number')
    const charges = await api(key, 'GET', '/v1/charges?limit=5&expand[]=data.balance_transaction')
    const charge = (charges.body.data as Array<Record<string, unknown>>).find((c) => c.status === 'succeeded') as Record<string, unknown>
    const txn = charge.balance_transaction as Record<string, unknown>
    assert.equal(txn.object, 'balance_transaction')
    assert.equal(txn.source, charge.id)
    assert.equal(txn.net, (txn.amount as number) - (txn.fee as number))
    const bad = await api(key, 'GET', '/v1/customers?expand[]=data.email')
    assert.equal(bad.status, 400)
    const txns = await listAll(key, '/v1/balance_transactions?type=charge')
    assert.ok(txns.length > 0 && txns.every((t) => t.type === 'charge'))
  })
})

describe('changes and events', () => {
  test('create, update, delete a customer: objects and events', async () => {
    const key = newKey()
    const created = await api(key, 'POST', '/v1/customers', { email: 'grace@example.com', name: 'Grace Hopper', 'metadata[a]': '1' })
    const id = created.body.id as string
    const updated = await api(key, 'POST', `/v1/customers/${id}`, { name: 'Grace B. Hopper', 'metadata[a]': '', 'metadata[b]': '2' })
    assert.equal(updated.body.name, 'Grace B. Hopper')
    assert.deepEqual(updated.body.metadata, { b: '2' })
    const deleted = await api(key, 'DELETE', `/v1/customers/${id}`)
    assert.deepEqual(deleted.body, { id, object: 'customer', deleted: true })
    const stub = await api(key, 'GET', `/v1/customers/${id}`)
    assert.equal(stub.status, 200)
    assert.deepEqual(stub.body, { id, object: 'customer', deleted: true })
    assert.ok(!(await listAll(key, '/v1/customers')).some((c) => c.id === id))

    const events = await listAll(key, '/v1/events?type=customer.*')
    assert.deepEqual(
      events.map((e) => e.type),
      ['customer.deleted', 'customer.updated', 'customer.created'],
    )
    type Evt = Listed & { data: { object: Record<string, unknown>; previous_attributes?: Record<string, unknown> }; request: { id: string | null } }
    const [del, upd, cre] = events as [Evt, Evt, Evt]
    for (const event of events) {
      assert.match(event.id, /^evt_[A-Za-z0-9]{24}$/)
      assert.equal(event.object, 'event')
      assert.equal(event.livemode, false)
      assert.equal(typeof event.api_version, 'string')
    }
    assert.equal(cre.data.object.name, 'Grace Hopper')
    assert.deepEqual(upd.data.previous_attributes, { name: 'Grace Hopper', metadata: { a: '1', b: null } })
    assert.equal(del.data.object.id, id)
    assert.equal(cre.request.id, created.headers.get('request-id'))

    const typed = await listAll(key, '/v1/events?types[]=customer.created&types[]=customer.deleted')
    assert.deepEqual(
      typed.map((e) => e.type),
      ['customer.deleted', 'customer.created'],
    )
    const since = await listAll(key, `/v1/events?created[gt]=${(cre as Listed).created + 10_000}`)
    assert.equal(since.length, 0)
  })

  test('payment intents confirm into charges; declines are card errors; refunds', async () => {
    const key = newKey()
    const customer = (await api(key, 'POST', '/v1/customers', { email: 'pay@example.com' })).body.id as string
    const intent = await api(key, 'POST', '/v1/payment_intents', { amount: '2500', currency: 'usd', customer, confirm: 'true', payment_method: 'pm_card_visa', 'expand[]': 'latest_charge' })
    assert.equal(intent.status, 200)
    assert.equal(intent.body.status, 'succeeded')
    const charge = intent.body.latest_charge as Record<string, unknown>
    assert.equal(charge.amount, 2500)
    assert.equal(charge.customer, customer)
    assert.equal(charge.paid, true)
    const declined = await api(key, 'POST', '/v1/payment_intents', { amount: '2500', currency: 'usd', confirm: 'true', payment_method: 'pm_card_chargeDeclined' })
    assert.equal(declined.status, 402)
    assert.equal((declined.body.error as Record<string, unknown>).type, 'card_error')
    assert.equal((declined.body.error as Record<string, unknown>).decline_code, 'generic_decline')
    const small = await api(key, 'POST', '/v1/payment_intents', { amount: '10', currency: 'usd' })
    assert.equal((small.body.error as Record<string, unknown>).code, 'amount_too_small')
    const refund = await api(key, 'POST', '/v1/refunds', { charge: charge.id as string, amount: '1000' })
    assert.equal(refund.body.object, 'refund')
    const after = await api(key, 'GET', `/v1/charges/${charge.id as string}`)
    assert.equal(after.body.amount_refunded, 1000)
    assert.equal(after.body.refunded, false)
    const tooMuch = await api(key, 'POST', '/v1/refunds', { charge: charge.id as string, amount: '2000' })
    assert.equal((tooMuch.body.error as Record<string, unknown>).code, 'amount_too_large')
    const types = (await listAll(key, '/v1/events')).map((e) => e.type)
    assert.deepEqual(types.slice(0, 2), ['refund.created', 'charge.refunded'])
    assert.ok(types.includes('charge.succeeded') && types.includes('payment_intent.succeeded') && types.includes('charge.failed'))
  })

  test('products: default price data, deletion refused while prices exist', async () => {
    const key = newKey()
    const product = await api(key, 'POST', '/v1/products', { name: 'Gala night', 'default_price_data[currency]': 'gbp', 'default_price_data[unit_amount]': '4500', 'expand[]': 'default_price' })
    assert.equal(product.status, 200)
    assert.equal((product.body.default_price as Record<string, unknown>).unit_amount, 4500)
    const refused = await api(key, 'DELETE', `/v1/products/${product.body.id as string}`)
    assert.equal(refused.status, 400)
    const missingName = await api(key, 'POST', '/v1/products', { description: 'x' })
    assert.deepEqual(missingName.body.error, { type: 'invalid_request_error', code: 'parameter_missing', param: 'name', message: 'Missing required param: name.', doc_url: 'https://stripe.com/docs/error-codes/parameter-missing' })
  })

  test('idempotency keys replay the first response and refuse other parameters', async () => {
    const key = newKey()
    const first = await api(key, 'POST', '/v1/customers', { email: 'idem@example.com' }, { 'Idempotency-Key': 'order-1' })
    const again = await api(key, 'POST', '/v1/customers', { email: 'idem@example.com' }, { 'Idempotency-Key': 'order-1' })
    assert.equal(again.status, 200)
    assert.equal(again.body.id, first.body.id)
    assert.equal(again.headers.get('idempotent-replayed'), 'true')
    assert.equal(again.headers.get('original-request'), first.headers.get('request-id'))
    const other = await api(key, 'POST', '/v1/customers', { email: 'other@example.com' }, { 'Idempotency-Key': 'order-1' })
    assert.equal(other.status, 400)
    assert.equal((other.body.error as Record<string, unknown>).type, 'idempotency_error')
    // A validation failure is not saved: the key can be used again with corrected parameters.
    const invalid = await api(key, 'POST', '/v1/customers', { email: 'bad' }, { 'Idempotency-Key': 'order-2' })
    assert.equal(invalid.status, 400)
    const fixed = await api(key, 'POST', '/v1/customers', { email: 'good@example.com' }, { 'Idempotency-Key': 'order-2' })
    assert.equal(fixed.status, 200)
    const created = (await listAll(key, '/v1/events?type=customer.created')).length
    assert.equal(created, 2)
  })
})

describe('control API', () => {
  test('seed, create, change and delete records; all visible through events', async () => {
    const key = newKey()
    const accountId = await accountOf(key)
    const seeded = await control('POST', `/_sim/accounts/${accountId}/seed`, { count: 40, entity: 'customer' })
    assert.equal(seeded.status, 200)
    assert.equal((await listAll(key, '/v1/customers')).length, 40)
    assert.equal((await listAll(key, '/v1/events')).length, 0)

    const created = await control('POST', `/_sim/accounts/${accountId}/customers`, { count: 3 })
    assert.equal(created.status, 201)
    const createdIds = created.body.ids as string[]
    assert.equal(createdIds.length, 3)
    const patched = await control('PATCH', `/_sim/accounts/${accountId}/customer/${createdIds[0]}`, { name: 'Changed Name', metadata: { k: 'v' } })
    assert.equal(patched.body.name, 'Changed Name')
    assert.equal((await control('DELETE', `/_sim/accounts/${accountId}/customer/${createdIds[1]}`)).status, 200)

    const events = await listAll(key, '/v1/events')
    assert.deepEqual(
      events.map((e) => e.type),
      ['customer.deleted', 'customer.updated', 'customer.created', 'customer.created', 'customer.created'],
    )
    assert.equal((await listAll(key, '/v1/customers')).length, 42)
    const ids = (await control('GET', `/_sim/accounts/${accountId}/customer`)).body.ids as string[]
    assert.deepEqual(
      ids,
      (await listAll(key, '/v1/customers')).map((c) => c.id),
    )

    const products = await control('POST', `/_sim/accounts/${accountId}/product`, { count: 1 })
    const productId = (products.body.ids as string[])[0] as string
    await control('PATCH', `/_sim/accounts/${accountId}/product/${productId}`, { unit_amount: 9900 })
    const product = await api(key, 'GET', `/v1/products/${productId}?expand[]=default_price`)
    assert.equal((product.body.default_price as Record<string, unknown>).unit_amount, 9900)
    await control('DELETE', `/_sim/accounts/${accountId}/product/${productId}`)
    assert.equal((await api(key, 'GET', `/v1/products/${productId}`)).status, 404)

    const payments = await control('POST', `/_sim/accounts/${accountId}/payment`, { count: 1 })
    const chargeId = (payments.body.ids as string[])[0] as string
    assert.match(chargeId, /^ch_/)
    await control('DELETE', `/_sim/accounts/${accountId}/payment/${chargeId}`)
    assert.equal((await api(key, 'GET', `/v1/charges/${chargeId}`)).body.refunded, true)
    const latest = (await api(key, 'GET', '/v1/events?limit=3')).body.data as Array<{ type: string }>
    assert.deepEqual(latest.map((e) => e.type).slice(0, 2), ['refund.created', 'charge.refunded'])

    assert.equal((await control('GET', '/_sim/accounts/lookup?credential=garbage')).status, 404)
    assert.equal((await control('POST', `/_sim/accounts/acct_nope/customer`, { count: 1 })).status, 404)
  })
})

describe('faults', () => {
  test('rate limit in Stripe format, with Retry-After only when the plan sets one', async () => {
    const key = newKey()
    const account = await accountOf(key)
    await control('POST', '/_sim/faults', { kind: 'rate_limit', account, times: 1, retryAfterSeconds: 3 })
    const limited = await api(key, 'GET', '/v1/customers')
    assert.equal(limited.status, 429)
    assert.equal(limited.headers.get('retry-after'), '3')
    assert.deepEqual(limited.body.error, {
      type: 'invalid_request_error',
      code: 'rate_limit',
      message: 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.',
      doc_url: 'https://stripe.com/docs/error-codes/rate-limit',
    })
    assert.equal((await api(key, 'GET', '/v1/customers')).status, 200)
    await control('POST', '/_sim/faults', { kind: 'rate_limit', account, times: 1 })
    const bare = await api(key, 'GET', '/v1/customers')
    assert.equal(bare.status, 429)
    assert.equal(bare.headers.get('retry-after'), null)
  })

  test('server error, expired token, reset, slow; scoped to an account and a path', async () => {
    const key = newKey()
    const bystander = newKey()
    const account = await accountOf(key)
    await accountOf(bystander)
    await control('POST', '/_sim/faults', { kind: 'server_error', account, times: 1, pathIncludes: '/v1/charges' })
    assert.equal((await api(key, 'GET', '/v1/customers')).status, 200)
    assert.equal((await api(bystander, 'GET', '/v1/charges')).status, 200)
    const failed = await api(key, 'GET', '/v1/charges')
    assert.equal(failed.status, 500)
    assert.equal((failed.body.error as Record<string, unknown>).type, 'api_error')
    assert.equal(failed.headers.get('stripe-should-retry'), 'true')

    await control('POST', '/_sim/faults', { kind: 'expired_token', account, times: 1 })
    const expired = await api(key, 'GET', '/v1/customers')
    assert.equal(expired.status, 401)
    assert.equal((expired.body.error as Record<string, unknown>).code, 'api_key_expired')

    await control('POST', '/_sim/faults', { kind: 'reset', account, times: 1 })
    await assert.rejects(api(key, 'GET', '/v1/customers'))

    await control('POST', '/_sim/faults', { kind: 'slow', account, times: 1, delayMs: 300 })
    const started = Date.now()
    assert.equal((await api(key, 'GET', '/v1/customers')).status, 200)
    assert.ok(Date.now() - started >= 290)

    const served = (await control('GET', '/_sim/faults/served')).body.served as Array<{ kind: string }>
    for (const kind of ['server_error', 'expired_token', 'reset', 'slow'])
      assert.ok(
        served.some((s) => s.kind === kind),
        kind,
      )
    assert.equal(((await control('GET', '/_sim/faults')).body.plans as unknown[]).length, 0)
  })

  test('enforceRateLimits: 25 reads per second per account in test mode', async () => {
    const limited = createStripeSimulator({ recordsPerEntity: 5, enforceRateLimits: true })
    try {
      const key = newKey()
      const statuses: number[] = []
      for (let i = 0; i < 30; i++) {
        const response = await limited.inject({ method: 'GET', url: '/v1/customers?limit=1', headers: { authorization: `Bearer ${key}` } })
        statuses.push(response.statusCode)
      }
      // The window opens with the account's first request; 30 in-process requests fit in it.
      assert.deepEqual(statuses, [...Array<number>(25).fill(200), ...Array<number>(5).fill(429)])
      const writes = await limited.inject({ method: 'POST', url: '/v1/customers', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'email=a%40b.co' })
      assert.equal(writes.statusCode, 200, 'writes have their own budget')
    } finally {
      await limited.close()
    }
  })
})

describe('webhooks', () => {
  let receiver: Server
  let receiverUrl: string
  const received: Array<{ headers: IncomingHttpHeaders; body: string }> = []

  before(async () => {
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') })
        response.writeHead(200).end('ok')
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hooks/stripe`
  })

  after(async () => {
    await new Promise<void>((resolve) => receiver.close(() => resolve()))
  })

  test('endpoint secret, signed delivery of a real event object', async () => {
    const key = newKey()
    const accountId = await accountOf(key)
    const endpoint = await api(key, 'POST', '/v1/webhook_endpoints', { url: receiverUrl, 'enabled_events[0]': 'customer.updated', 'enabled_events[1]': 'customer.created' })
    assert.equal(endpoint.status, 200)
    assert.match(endpoint.body.id as string, /^we_/)
    const secret = endpoint.body.secret as string
    assert.match(secret, /^whsec_[A-Za-z0-9]{32}$/)
    const listed = await api(key, 'GET', '/v1/webhook_endpoints')
    assert.equal((listed.body.data as Array<Record<string, unknown>>)[0]?.secret, undefined, 'secret only on create')
    const invalid = await api(key, 'POST', '/v1/webhook_endpoints', { url: receiverUrl, 'enabled_events[0]': 'nope.event' })
    assert.equal(invalid.status, 400)

    const sims = (await control('GET', '/_sim/webhooks')).body.endpoints as Array<Record<string, unknown>>
    assert.ok(sims.some((e) => e.id === endpoint.body.id && e.accountId === accountId))

    const customerId = (await api(key, 'POST', '/v1/customers', { email: 'hook@example.com' })).body.id as string
    received.length = 0
    const fired = await control('POST', '/_sim/webhooks/fire', { accountId, type: 'customer.updated', objectId: customerId })
    assert.equal(fired.status, 200)
    const deliveries = fired.body.deliveries as Array<{ status: number; url: string }>
    assert.equal(deliveries.length, 1)
    assert.equal(deliveries[0]?.status, 200)
    assert.equal(received.length, 1)
    const delivery = received[0] as { headers: IncomingHttpHeaders; body: string }
    const signature = delivery.headers['stripe-signature'] as string
    const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature)
    assert.ok(match, signature)
    const expected = createHmac('sha256', secret).update(`${match[1]}.${delivery.body}`).digest('hex')
    assert.equal(match[2], expected)
    assert.ok(Math.abs(Number(match[1]) - Date.now() / 1000) < 5)
    assert.match(delivery.headers['content-type'] as string, /^application\/json/)
    assert.match(delivery.headers['user-agent'] as string, /^Stripe\/1\.0/)
    const event = JSON.parse(delivery.body) as Record<string, unknown>
    assert.match(event.id as string, /^evt_/)
    assert.equal(event.object, 'event')
    assert.equal(event.type, 'customer.updated')
    assert.equal(event.livemode, false)
    assert.equal(typeof event.api_version, 'string')
    assert.equal(typeof event.created, 'number')
    assert.equal((event.data as { object: { id: string } }).object.id, customerId)
    // The fired event is a real one: it lists like any other.
    assert.equal((await api(key, 'GET', `/v1/events/${event.id as string}`)).status, 200)

    const stale = await control('POST', '/_sim/webhooks/fire', { accountId, type: 'customer.created', timestamp: 1_000_000 })
    assert.match((stale.body.deliveries as Array<{ headers: Record<string, string> }>)[0]?.headers['Stripe-Signature'] ?? '', /^t=1000000,v1=/)
  })

  test('auto-delivery posts new events to subscribed endpoints', async () => {
    const key = newKey()
    await api(key, 'POST', '/v1/webhook_endpoints', { url: receiverUrl, 'enabled_events[0]': '*' })
    await control('POST', '/_sim/webhooks/config', { autoDeliver: true })
    try {
      received.length = 0
      const id = (await api(key, 'POST', '/v1/customers', { email: 'auto@example.com' })).body.id
      for (let i = 0; i < 50 && received.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
      assert.equal(received.length, 1)
      const event = JSON.parse((received[0] as { body: string }).body) as { type: string; data: { object: { id: string } } }
      assert.equal(event.type, 'customer.created')
      assert.equal(event.data.object.id, id)
    } finally {
      await control('POST', '/_sim/webhooks/config', { autoDeliver: false })
    }
  })
})

describe('Connect OAuth', () => {
  test('authorize, token, Stripe-Account, refresh, code reuse, deauthorize', async () => {
    const platformKey = newKey()
    const clientId = 'ca_' + 'P'.repeat(32)
    const authorize = await fetch(`${base}/oauth/authorize?response_type=code&client_id=${clientId}&scope=read_write&redirect_uri=${encodeURIComponent('https://hub.example/cb')}&state=xyz`, { redirect: 'manual' })
    assert.equal(authorize.status, 302)
    const location = new URL(authorize.headers.get('location') as string)
    assert.equal(location.origin + location.pathname, 'https://hub.example/cb')
    assert.equal(location.searchParams.get('state'), 'xyz')
    assert.equal(location.searchParams.get('scope'), 'read_write')
    const code = location.searchParams.get('code') as string
    assert.match(code, /^ac_/)

    const token = await api(platformKey, 'POST', '/oauth/token', { grant_type: 'authorization_code', code })
    assert.equal(token.status, 200)
    assert.match(token.body.access_token as string, /^sk_test_/)
    assert.match(token.body.refresh_token as string, /^rt_/)
    assert.match(token.body.stripe_user_id as string, /^acct_/)
    assert.equal(token.body.scope, 'read_write')
    assert.equal(token.body.token_type, 'bearer')
    const connected = token.body.stripe_user_id as string

    assert.equal((await api(token.body.access_token as string, 'GET', '/v1/account')).body.id, connected)
    const viaPlatform = await api(platformKey, 'GET', '/v1/account', undefined, { 'Stripe-Account': connected })
    assert.equal(viaPlatform.body.id, connected)
    assert.equal(viaPlatform.headers.get('stripe-account'), connected)

    const refreshed = await api(platformKey, 'POST', '/oauth/token', { grant_type: 'refresh_token', refresh_token: token.body.refresh_token as string })
    assert.equal(refreshed.body.stripe_user_id, connected)
    assert.notEqual(refreshed.body.access_token, token.body.access_token)

    const reused = await api(platformKey, 'POST', '/oauth/token', { grant_type: 'authorization_code', code })
    assert.equal(reused.status, 400)
    assert.equal(reused.body.error, 'invalid_grant')
    assert.equal((await api(token.body.access_token as string, 'GET', '/v1/account')).status, 401, 'tokens of a replayed code are revoked')
    const unknown = await api(platformKey, 'POST', '/oauth/token', { grant_type: 'authorization_code', code: 'ac_unknown' })
    assert.deepEqual(unknown.body, { error: 'invalid_grant', error_description: 'Authorization code does not exist: ac_unknown' })
    assert.equal((await api(platformKey, 'POST', '/oauth/token', { grant_type: 'password' })).body.error, 'unsupported_grant_type')

    const connectEvents = await api(platformKey, 'GET', '/v1/events?type=account.application.*', undefined, { 'Stripe-Account': connected })
    assert.deepEqual(
      (connectEvents.body.data as Listed[]).map((e) => e.type),
      ['account.application.authorized'],
    )
    assert.equal(((await api(platformKey, 'GET', '/v1/events?type=account.application.*')).body.data as Listed[]).length, 0, 'the platform has its own event log')

    const deauth = await api(platformKey, 'POST', '/oauth/deauthorize', { client_id: clientId, stripe_user_id: connected })
    assert.deepEqual(deauth.body, { stripe_user_id: connected })
    const revoked = await api(refreshed.body.access_token as string, 'GET', '/v1/account')
    assert.equal(revoked.status, 401)
    assert.equal((revoked.body.error as Record<string, unknown>).code, 'api_key_expired')
    assert.equal((await api(platformKey, 'GET', '/v1/account', undefined, { 'Stripe-Account': connected })).status, 403)

    const denied = await fetch(`${base}/oauth/authorize?client_id=${clientId}&redirect_uri=${encodeURIComponent('https://hub.example/cb')}&state=s&sim_deny=1`, { redirect: 'manual' })
    assert.equal(new URL(denied.headers.get('location') as string).searchParams.get('error'), 'access_denied')
  })
})
