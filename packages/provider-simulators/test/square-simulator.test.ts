// Wire-level tests of the Square simulator: plain fetch, asserting Square's own statuses, error
// envelopes, headers, pagination and webhook signatures.
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { setTimeout } from 'node:timers/promises'
import assert from 'node:assert/strict'
import { createSquareSimulator } from '../src/square/index.ts'
import type { SquareSimulator } from '../src/square/index.ts'

const RECORDS = 250
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const URL_SAFE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** A fresh personal access token: each test opens its own merchant. */
function newToken(): string {
  let out = 'EAAA'
  for (const byte of randomBytes(60)) out += URL_SAFE[byte % URL_SAFE.length]
  return out
}

interface SquareErrorBody {
  errors: Array<{ category: string; code: string; detail: string; field?: string }>
}
interface Customer {
  id: string
  created_at: string
  updated_at: string
  given_name?: string
  email_address?: string
  version: number
}
interface Payment {
  id: string
  created_at: string
  updated_at: string
  location_id: string
  status: string
  total_money: { amount: number; currency: string }
}
interface CatalogObject {
  type: string
  id: string
  updated_at: string
  version: number
  is_deleted: boolean
  item_data?: { name: string; variations: Array<{ item_variation_data: { price_money: { amount: number; currency: string } } }> }
}

let sim: SquareSimulator
let base: string

before(async () => {
  sim = createSquareSimulator({ recordsPerEntity: RECORDS })
  await sim.listen({ port: 0, host: '127.0.0.1' })
  base = `http://127.0.0.1:${(sim.server.address() as AddressInfo).port}`
})

after(async () => {
  await sim.close()
})

async function api<T = unknown>(token: string | null, path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { 'square-version': '2025-10-16', ...init.headers }
  if (token) headers.authorization = `Bearer ${token}`
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(`${base}${path}`, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) })
  const text = await response.text()
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as T }
}

async function control<T = unknown>(path: string, method = 'GET', body?: unknown): Promise<T> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const json = (await response.json()) as T
  assert.ok(response.ok, `${method} ${path} → ${response.status} ${JSON.stringify(json)}`)
  return json
}

async function accountOf(token: string): Promise<string> {
  return (await control<{ accountId: string }>(`/_sim/accounts/lookup?credential=${token}`)).accountId
}

async function walkCustomers(token: string, query: string, onPage?: (page: number) => Promise<void>): Promise<Customer[]> {
  const out: Customer[] = []
  let cursor: string | undefined
  let page = 0
  do {
    const response = await api<{ customers?: Customer[]; cursor?: string }>(token, `/v2/customers?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    assert.equal(response.status, 200)
    out.push(...(response.body.customers ?? []))
    cursor = response.body.cursor
    page += 1
    if (onPage) await onPage(page)
  } while (cursor)
  return out
}

describe('authentication', () => {
  test('a missing Authorization header is refused with UNAUTHORIZED', async () => {
    const response = await api<SquareErrorBody>(null, '/v2/merchants/me')
    assert.equal(response.status, 401)
    assert.match(response.headers.get('content-type') ?? '', /application\/json/)
    assert.equal(response.body.errors.length, 1)
    assert.equal(response.body.errors[0]?.category, 'AUTHENTICATION_ERROR')
    assert.equal(response.body.errors[0]?.code, 'UNAUTHORIZED')
    assert.match(response.body.errors[0]?.detail ?? '', /did not include an `Authorization` http header/)
  })

  test('a malformed token is refused exactly as Square does', async () => {
    for (const token of ['EAAAshort', `EQAA${'a'.repeat(60)}`, `EAAA${'a'.repeat(59)}!`]) {
      const response = await api<SquareErrorBody>(token, '/v2/customers')
      assert.equal(response.status, 401)
      assert.deepEqual(response.body, { errors: [{ category: 'AUTHENTICATION_ERROR', code: 'UNAUTHORIZED', detail: 'This request could not be authorized.' }] })
    }
  })

  test('a revoked token is refused; other tokens still work', async () => {
    const token = newToken()
    const other = newToken()
    assert.equal((await api(token, '/v2/merchants/me')).status, 200)
    await control('/_sim/credentials/revoke', 'POST', { credential: token })
    const refused = await api<SquareErrorBody>(token, '/v2/merchants/me')
    assert.equal(refused.status, 401)
    assert.equal(refused.body.errors[0]?.code, 'UNAUTHORIZED')
    assert.equal((await api(other, '/v2/merchants/me')).status, 200)
  })

  test('Square-Version is accepted when well formed and refused when not', async () => {
    const token = newToken()
    assert.equal((await api(token, '/v2/locations', { headers: { 'square-version': '2026-09-16' } })).status, 200)
    const bad = await api<SquareErrorBody>(token, '/v2/locations', { headers: { 'square-version': 'latest' } })
    assert.equal(bad.status, 400)
    assert.equal(bad.body.errors[0]?.code, 'INVALID_SQUARE_VERSION_FORMAT')
  })

  test('unknown endpoints answer NOT_FOUND in the error envelope', async () => {
    const response = await api<SquareErrorBody>(newToken(), '/v2/widgets')
    assert.equal(response.status, 404)
    assert.equal(response.body.errors[0]?.code, 'NOT_FOUND')
    assert.equal(response.body.errors[0]?.category, 'INVALID_REQUEST_ERROR')
  })
})

describe('accounts', () => {
  test('a token opens its own merchant, deterministic for a seed, with locations', async () => {
    const token = newToken()
    const me = await api<{ merchant: { id: string; currency: string; main_location_id: string; status: string } }>(token, '/v2/merchants/me')
    assert.equal(me.status, 200)
    assert.match(me.body.merchant.id, /^[A-Z0-9]{13}$/)
    assert.equal(me.body.merchant.status, 'ACTIVE')
    assert.equal(await accountOf(token), me.body.merchant.id)
    const list = await api<{ merchant: Array<{ id: string }> }>(token, '/v2/merchants')
    assert.deepEqual(
      list.body.merchant.map((merchant) => merchant.id),
      [me.body.merchant.id],
    )
    const locations = await api<{ locations: Array<{ id: string; merchant_id: string; currency: string }> }>(token, '/v2/locations')
    assert.equal(locations.body.locations.length, 2)
    assert.ok(locations.body.locations.some((location) => location.id === me.body.merchant.main_location_id))
    assert.ok(locations.body.locations.every((location) => location.merchant_id === me.body.merchant.id && location.currency === me.body.merchant.currency))

    const other = await api<{ merchant: { id: string } }>(newToken(), '/v2/merchants/me')
    assert.notEqual(other.body.merchant.id, me.body.merchant.id)

    // Same seed, same credential: same merchant and same records in a second simulator.
    const twin = createSquareSimulator({ recordsPerEntity: RECORDS })
    try {
      const authorization = `Bearer ${token}`
      const twinMe = (await (await twin.inject({ url: '/v2/merchants/me', headers: { authorization } })).json()) as { merchant: { id: string } }
      assert.equal(twinMe.merchant.id, me.body.merchant.id)
      const first = await api<{ customers: Customer[] }>(token, '/v2/customers?limit=5&sort_field=CREATED_AT')
      const twinFirst = (await (await twin.inject({ url: '/v2/customers?limit=5&sort_field=CREATED_AT', headers: { authorization } })).json()) as { customers: Customer[] }
      assert.deepEqual(
        twinFirst.customers.map((customer) => customer.id),
        first.body.customers.map((customer) => customer.id),
      )
    } finally {
      await twin.close()
    }
  })

  test('the control API seeds, creates and reports counts', async () => {
    const token = newToken()
    const accountId = await accountOf(token)
    const summary = await control<{ counts: Record<string, number> }>(`/_sim/accounts/${accountId}`)
    assert.deepEqual(summary.counts, { customer: RECORDS, payment: RECORDS, product: RECORDS, deletedProduct: 0 })
    await control(`/_sim/accounts/${accountId}/seed`, 'POST', { count: 40, entity: 'customer' })
    const created = await control<{ created: string[] }>(`/_sim/accounts/${accountId}/customer`, 'POST', { count: 3 })
    assert.equal(created.created.length, 3)
    const all = await walkCustomers(token, 'limit=100')
    assert.equal(all.length, 43)
    for (const id of created.created) assert.ok(all.some((customer) => customer.id === id))
  })
})

describe('customers', () => {
  test('limit outside 1..100 is VALUE_TOO_LOW / VALUE_TOO_HIGH on the limit field', async () => {
    const token = newToken()
    const low = await api<SquareErrorBody>(token, '/v2/customers?limit=0')
    assert.equal(low.status, 400)
    assert.deepEqual(low.body.errors[0], { category: 'INVALID_REQUEST_ERROR', code: 'VALUE_TOO_LOW', detail: low.body.errors[0]?.detail, field: 'limit' })
    const high = await api<SquareErrorBody>(token, '/v2/customers?limit=101')
    assert.equal(high.body.errors[0]?.code, 'VALUE_TOO_HIGH')
    const search = await api<SquareErrorBody>(token, '/v2/customers/search', { method: 'POST', body: { limit: 500 } })
    assert.equal(search.body.errors[0]?.code, 'VALUE_TOO_HIGH')
  })

  test('a walk sees every customer once, even while records change, appear and disappear', async () => {
    const token = newToken()
    const accountId = await accountOf(token)
    const baseline = await walkCustomers(token, 'limit=40&sort_field=CREATED_AT&sort_order=ASC')
    assert.equal(baseline.length, RECORDS)
    assert.equal(new Set(baseline.map((customer) => customer.id)).size, RECORDS)
    const createdAts = baseline.map((customer) => customer.created_at)
    assert.deepEqual(createdAts, [...createdAts].sort())

    const visited = baseline[10] as Customer
    const unvisited = baseline[200] as Customer
    const doomed = baseline[220] as Customer
    let created: string[] = []
    const walked = await walkCustomers(token, 'limit=40&sort_field=CREATED_AT&sort_order=ASC', async (page) => {
      if (page !== 2) return
      await control(`/_sim/accounts/${accountId}/customer/${visited.id}`, 'PATCH', { given_name: 'Visited' })
      await control(`/_sim/accounts/${accountId}/customer/${unvisited.id}`, 'PATCH', { given_name: 'Unvisited' })
      await control(`/_sim/accounts/${accountId}/customer/${doomed.id}`, 'DELETE')
      created = (await control<{ created: string[] }>(`/_sim/accounts/${accountId}/customer`, 'POST', { count: 4 })).created
    })
    const ids = walked.map((customer) => customer.id)
    assert.equal(ids.length, new Set(ids).size, 'no customer repeated')
    const expected = new Set([...baseline.map((customer) => customer.id).filter((id) => id !== doomed.id), ...created])
    assert.deepEqual(new Set(ids), expected)
    assert.equal(walked.find((customer) => customer.id === unvisited.id)?.given_name, 'Unvisited')
    assert.notEqual(walked.find((customer) => customer.id === visited.id)?.given_name, 'Visited')
  })

  test('cursors are opaque, bound to their query, and refused when forged', async () => {
    const token = newToken()
    const first = await api<{ cursor: string }>(token, '/v2/customers?limit=10&sort_field=CREATED_AT')
    assert.equal(typeof first.body.cursor, 'string')
    const forged = await api<SquareErrorBody>(token, `/v2/customers?limit=10&sort_field=CREATED_AT&cursor=${first.body.cursor}x`)
    assert.equal(forged.status, 400)
    assert.equal(forged.body.errors[0]?.code, 'INVALID_CURSOR')
    const otherQuery = await api<SquareErrorBody>(token, `/v2/customers?limit=10&sort_field=DEFAULT&cursor=${first.body.cursor}`)
    assert.equal(otherQuery.body.errors[0]?.code, 'INVALID_CURSOR')
    const otherAccount = await api<SquareErrorBody>(newToken(), `/v2/customers?limit=10&sort_field=CREATED_AT&cursor=${first.body.cursor}`)
    assert.equal(otherAccount.body.errors[0]?.code, 'INVALID_CURSOR')
  })

  test('search by updated_at shows control-API changes with new updated_at and version; deletions vanish', async () => {
    const token = newToken()
    const accountId = await accountOf(token)
    const since = new Date().toISOString()
    const sample = (await api<{ customers: Customer[] }>(token, '/v2/customers?limit=5&sort_field=CREATED_AT')).body.customers
    const [a, b, c] = sample as [Customer, Customer, Customer]
    await control(`/_sim/accounts/${accountId}/customer/${a.id}`, 'PATCH', { email_address: 'changed@example.com' })
    await control(`/_sim/accounts/${accountId}/customer/${b.id}`, 'PATCH', { family_name: 'Changed' })
    await control(`/_sim/accounts/${accountId}/customer/${c.id}`, 'DELETE')
    const created = (await control<{ created: string[] }>(`/_sim/accounts/${accountId}/customers`, 'POST', { count: 2 })).created

    const search = await api<{ customers: Customer[]; cursor?: string }>(token, '/v2/customers/search', {
      method: 'POST',
      body: { limit: 100, query: { filter: { updated_at: { start_at: since } }, sort: { field: 'CREATED_AT', order: 'ASC' } } },
    })
    assert.equal(search.status, 200)
    assert.equal(search.body.cursor, undefined)
    assert.deepEqual(new Set(search.body.customers.map((customer) => customer.id)), new Set([a.id, b.id, ...created]))
    const changed = search.body.customers.find((customer) => customer.id === a.id) as Customer
    assert.equal(changed.email_address, 'changed@example.com')
    assert.equal(changed.version, a.version + 1)
    assert.ok(changed.updated_at > since)

    const gone = await api<SquareErrorBody>(token, `/v2/customers/${c.id}`)
    assert.equal(gone.status, 404)
    assert.equal(gone.body.errors[0]?.code, 'NOT_FOUND')
    const empty = await api(token, '/v2/customers/search', { method: 'POST', body: { query: { filter: { updated_at: { start_at: new Date(Date.now() + 60_000).toISOString() } } } } })
    assert.deepEqual(empty.body, {})
  })
})

describe('payments', () => {
  test('ListPayments defaults: newest first, last year only, main location only, limit above 100 ignored', async () => {
    const token = newToken()
    const accountId = await accountOf(token)
    const me = (await api<{ merchant: { main_location_id: string } }>(token, '/v2/merchants/me')).body.merchant
    const locations = (await api<{ locations: Array<{ id: string }> }>(token, '/v2/locations')).body.locations.map((location) => location.id)

    const page = await api<{ payments: Payment[]; cursor?: string }>(token, '/v2/payments?limit=500')
    assert.equal(page.body.payments.length, 100)
    const created = page.body.payments.map((payment) => payment.created_at)
    assert.deepEqual(created, [...created].sort().reverse())
    assert.ok(page.body.payments.every((payment) => payment.location_id === me.main_location_id))

    const walk = async (query: string): Promise<Payment[]> => {
      const out: Payment[] = []
      let cursor: string | undefined
      do {
        const response = await api<{ payments?: Payment[]; cursor?: string }>(token, `/v2/payments?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
        assert.equal(response.status, 200)
        out.push(...(response.body.payments ?? []))
        cursor = response.body.cursor
      } while (cursor)
      return out
    }
    const yearAgo = Date.now() - 365 * 86_400_000
    const lastYearMain = await walk('')
    assert.ok(lastYearMain.every((payment) => Date.parse(payment.created_at) >= yearAgo - 5_000))
    let everything = 0
    for (const location of locations) everything += (await walk(`begin_time=2009-01-01T00:00:00Z&sort_order=ASC&location_id=${location}`)).length
    assert.equal(everything, RECORDS)
    assert.ok(lastYearMain.length < RECORDS)

    const old = (await walk(`begin_time=2009-01-01T00:00:00Z&sort_order=ASC&location_id=${me.main_location_id}`))[0] as Payment
    assert.ok(Date.parse(old.created_at) < yearAgo, 'seed holds payments older than a year')
    const since = new Date().toISOString()
    await control(`/_sim/accounts/${accountId}/payment/${old.id}`, 'PATCH', { status: 'CANCELED' })
    const updated = await walk(`begin_time=2009-01-01T00:00:00Z&updated_at_begin_time=${since}&sort_field=UPDATED_AT&sort_order=ASC&location_id=${me.main_location_id}`)
    assert.deepEqual(
      updated.map((payment) => [payment.id, payment.status]),
      [[old.id, 'CANCELED']],
    )

    const bad = await api<SquareErrorBody>(token, '/v2/payments?begin_time=yesterday')
    assert.equal(bad.status, 400)
    assert.equal(bad.body.errors[0]?.code, 'INVALID_TIME')
    const refused = await fetch(`${base}/_sim/accounts/${accountId}/payment/${old.id}`, { method: 'DELETE' })
    assert.equal(refused.status, 409)
  })
})

describe('catalog', () => {
  test('items carry prices in minor units; search returns changes after begin_time and tombstones', async () => {
    const token = newToken()
    const accountId = await accountOf(token)
    const currency = (await api<{ merchant: { currency: string } }>(token, '/v2/merchants/me')).body.merchant.currency
    const items: CatalogObject[] = []
    let cursor: string | undefined
    do {
      const response = await api<{ objects: CatalogObject[]; cursor?: string }>(token, `/v2/catalog/list?types=item${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
      items.push(...response.body.objects)
      cursor = response.body.cursor
    } while (cursor)
    assert.equal(items.length, RECORDS)
    assert.ok(items.every((item) => item.type === 'ITEM' && item.is_deleted === false))
    const price = items[0]?.item_data?.variations[0]?.item_variation_data.price_money
    assert.ok(price && Number.isInteger(price.amount) && price.currency === currency)
    const categories = await api<{ objects: CatalogObject[] }>(token, '/v2/catalog/list?types=CATEGORY')
    assert.equal(categories.body.objects.length, 3)

    // begin_time is exclusive at millisecond resolution: a change made within the same
    // millisecond as `since` is rightly left out, so let the clock move on first.
    const since = new Date().toISOString()
    await setTimeout(2)
    const [changed, removed] = items as [CatalogObject, CatalogObject]
    await control(`/_sim/accounts/${accountId}/product/${changed.id}`, 'PATCH', { name: 'Renamed', price_money: { amount: 1234, currency } })
    await control(`/_sim/accounts/${accountId}/product/${removed.id}`, 'DELETE')
    const search = await api<{ objects: CatalogObject[]; latest_time: string }>(token, '/v2/catalog/search', {
      method: 'POST',
      body: { object_types: ['ITEM'], include_deleted_objects: true, begin_time: since, limit: 1000 },
    })
    assert.equal(search.status, 200)
    const byId = new Map(search.body.objects.map((object) => [object.id, object]))
    assert.deepEqual([...byId.keys()].sort(), [changed.id, removed.id].sort())
    assert.equal(byId.get(changed.id)?.item_data?.name, 'Renamed')
    assert.equal(byId.get(changed.id)?.item_data?.variations[0]?.item_variation_data.price_money.amount, 1234)
    assert.ok((byId.get(changed.id)?.version ?? 0) > changed.version)
    assert.equal(byId.get(removed.id)?.is_deleted, true)

    // begin_time is exclusive.
    const atChange = byId.get(changed.id)?.updated_at as string
    const after = await api<{ objects?: CatalogObject[] }>(token, '/v2/catalog/search', {
      method: 'POST',
      body: { object_types: ['ITEM'], include_deleted_objects: true, begin_time: atChange },
    })
    assert.deepEqual(
      after.body.objects?.map((object) => object.id),
      [removed.id],
    )
    const live = await api<{ objects?: CatalogObject[] }>(token, '/v2/catalog/search', { method: 'POST', body: { object_types: ['ITEM'], begin_time: since } })
    assert.deepEqual(
      live.body.objects?.map((object) => object.id),
      [changed.id],
    )
    assert.equal((await api(token, `/v2/catalog/object/${removed.id}`)).status, 404)
    assert.equal((await api(token, `/v2/catalog/object/${changed.id}`)).status, 200)
  })
})

describe('faults and rate limits', () => {
  test('rate_limit answers 429 RATE_LIMITED with Retry-After, then clears', async () => {
    const token = newToken()
    const accountId = await accountOf(token)
    await control('/_sim/faults', 'POST', { kind: 'rate_limit', times: 1, account: accountId, retryAfterSeconds: 3 })
    const limited = await api<SquareErrorBody>(token, '/v2/customers')
    assert.equal(limited.status, 429)
    assert.equal(limited.headers.get('retry-after'), '3')
    assert.deepEqual(
      limited.body.errors.map((error) => [error.category, error.code]),
      [['RATE_LIMIT_ERROR', 'RATE_LIMITED']],
    )
    assert.equal((await api(token, '/v2/customers')).status, 200)
  })

  test('server_error, expired_token, reset and slow are served to the targeted account only', async () => {
    const token = newToken()
    const bystander = newToken()
    const accountId = await accountOf(token)
    await control('/_sim/faults', 'POST', { kind: 'server_error', times: 1, account: accountId })
    const failed = await api<SquareErrorBody>(token, '/v2/payments')
    assert.equal(failed.status, 500)
    assert.deepEqual(
      failed.body.errors.map((error) => [error.category, error.code]),
      [['API_ERROR', 'INTERNAL_SERVER_ERROR']],
    )

    await control('/_sim/faults', 'POST', { kind: 'expired_token', times: 1, account: accountId })
    assert.equal((await api(bystander, '/v2/customers')).status, 200)
    const expired = await api<SquareErrorBody>(token, '/v2/customers')
    assert.equal(expired.status, 401)
    assert.equal(expired.body.errors[0]?.code, 'ACCESS_TOKEN_EXPIRED')

    await control('/_sim/faults', 'POST', { kind: 'reset', times: 1, account: accountId, pathIncludes: '/v2/locations' })
    await assert.rejects(api(token, '/v2/locations'))
    assert.equal((await api(token, '/v2/locations')).status, 200)

    await control('/_sim/faults', 'POST', { kind: 'slow', times: 1, account: accountId, delayMs: 400 })
    const started = Date.now()
    assert.equal((await api(token, '/v2/merchants/me')).status, 200)
    assert.ok(Date.now() - started >= 380)

    const served = await control<{ served: Array<{ kind: string }> }>('/_sim/faults/served')
    for (const kind of ['server_error', 'expired_token', 'reset', 'slow']) assert.ok(served.served.some((fault) => fault.kind === kind))
    assert.deepEqual((await control<{ faults: unknown[] }>('/_sim/faults')).faults, [])
  })

  test('enforceRateLimits allows 20 requests per second per token', async () => {
    const limited = createSquareSimulator({ recordsPerEntity: 5, enforceRateLimits: true })
    try {
      const token = newToken()
      const statuses: number[] = []
      let retryAfter: string | undefined
      for (let i = 0; i < 25; i++) {
        const response = await limited.inject({ url: '/v2/locations', headers: { authorization: `Bearer ${token}` } })
        statuses.push(response.statusCode)
        if (response.statusCode === 429) retryAfter = String(response.headers['retry-after'])
      }
      const ok = statuses.filter((status) => status === 200).length
      // A window boundary may fall inside the burst; at most 20 per window ever pass.
      assert.ok(ok >= 20 && ok <= 25 && statuses.includes(429), statuses.join(','))
      assert.equal(retryAfter, '1')
      const other = await limited.inject({ url: '/v2/locations', headers: { authorization: `Bearer ${newToken()}` } })
      assert.equal(other.statusCode, 200)
    } finally {
      await limited.close()
    }
  })
})

describe('webhooks', () => {
  let receiver: Server
  let receiverUrl: string
  const received: Array<{ headers: IncomingHttpHeaders; body: string; url: string }> = []

  before(async () => {
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), url: request.url ?? '' })
        response.writeHead(200).end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/square?venue=7`
  })

  after(async () => {
    await new Promise<void>((resolve) => receiver.close(() => resolve()))
  })

  test('subscriptions return their signature key once; events are signed over URL + body', async () => {
    const token = newToken()
    const accountId = await accountOf(token)
    const created = await api<{ subscription: { id: string; signature_key: string; enabled: boolean; event_types: string[]; notification_url: string } }>(token, '/v2/webhooks/subscriptions', {
      method: 'POST',
      body: { idempotency_key: 'k1', subscription: { name: 'hub', event_types: ['customer.updated', 'customer.deleted'], notification_url: receiverUrl } },
    })
    assert.equal(created.status, 200)
    const subscription = created.body.subscription
    assert.match(subscription.id, /^wbhk_[0-9a-f]{32}$/)
    assert.match(subscription.signature_key, /^[A-Za-z0-9_-]{22}$/)
    const listed = await api<{ subscriptions: Array<Record<string, unknown>> }>(token, '/v2/webhooks/subscriptions')
    assert.equal(listed.body.subscriptions.length, 1)
    assert.equal(listed.body.subscriptions[0]?.signature_key, undefined)
    const simList = await control<{ subscriptions: Array<{ id: string; accountId: string }> }>('/_sim/webhooks')
    assert.ok(simList.subscriptions.some((entry) => entry.id === subscription.id && entry.accountId === accountId))

    const customer = (await api<{ customers: Customer[] }>(token, '/v2/customers?limit=1')).body.customers[0] as Customer
    await control(`/_sim/accounts/${accountId}/customer/${customer.id}`, 'PATCH', { given_name: 'Hooked' })
    const fired = await control<{ event: { event_id: string }; deliveries: Array<{ status: number; url: string }> }>('/_sim/webhooks/fire', 'POST', {
      accountId,
      type: 'customer.updated',
      objectId: customer.id,
    })
    assert.deepEqual(
      fired.deliveries.map((delivery) => [delivery.url, delivery.status]),
      [[receiverUrl, 200]],
    )
    const delivery = received.find((entry) => JSON.parse(entry.body).event_id === fired.event.event_id)
    assert.ok(delivery)
    const expected = createHmac('sha256', subscription.signature_key)
      .update(receiverUrl + delivery.body)
      .digest('base64')
    assert.equal(delivery.headers['x-square-hmacsha256-signature'], expected)
    assert.equal(delivery.headers['content-type'], 'application/json')
    const event = JSON.parse(delivery.body) as { merchant_id: string; type: string; event_id: string; created_at: string; data: { type: string; id: string; object: { customer: Customer } } }
    assert.equal(event.merchant_id, accountId)
    assert.equal(event.type, 'customer.updated')
    assert.match(event.event_id, UUID)
    assert.ok(!Number.isNaN(Date.parse(event.created_at)))
    assert.equal(event.data.type, 'customer')
    assert.equal(event.data.id, customer.id)
    assert.equal(event.data.object.customer.given_name, 'Hooked')

    // A type nobody subscribed to is delivered nowhere.
    const unsubscribed = await control<{ deliveries: unknown[] }>('/_sim/webhooks/fire', 'POST', { accountId, type: 'payment.updated' })
    assert.deepEqual(unsubscribed.deliveries, [])

    assert.equal((await api(token, `/v2/webhooks/subscriptions/${subscription.id}`, { method: 'DELETE' })).status, 200)
    assert.equal((await api(token, `/v2/webhooks/subscriptions/${subscription.id}`)).status, 404)
    assert.ok(!(await control<{ subscriptions: Array<{ id: string }> }>('/_sim/webhooks')).subscriptions.some((entry) => entry.id === subscription.id))
  })

  test('a deleted customer can still be announced by customer.deleted', async () => {
    const token = newToken()
    const accountId = await accountOf(token)
    const customer = (await api<{ customers: Customer[] }>(token, '/v2/customers?limit=1')).body.customers[0] as Customer
    await control(`/_sim/accounts/${accountId}/customer/${customer.id}`, 'DELETE')
    const fired = await control<{ event: { type: string; data: { id: string; deleted: boolean } }; deliveries: Array<{ headers: Record<string, string>; body: string }> }>('/_sim/webhooks/fire', 'POST', {
      accountId,
      type: 'customer.deleted',
      objectId: customer.id,
      url: receiverUrl,
      signatureKey: 'test-key',
    })
    assert.equal(fired.event.data.id, customer.id)
    assert.equal(fired.event.data.deleted, true)
    const sent = fired.deliveries[0]
    assert.ok(sent)
    assert.equal(
      sent.headers['x-square-hmacsha256-signature'],
      createHmac('sha256', 'test-key')
        .update(receiverUrl + sent.body)
        .digest('base64'),
    )
  })
})

describe('oauth', () => {
  const clientId = 'sq0idp-venuehubtestclient01'
  const clientSecret = 'sq0csp-venuehubtestsecret0000000000000000'
  const redirectUri = 'https://hub.example.com/oauth/square/callback'

  before(async () => {
    await control('/_sim/oauth/clients', 'POST', { clientId, clientSecret })
  })

  async function authorize(params: Record<string, string>): Promise<URL> {
    const url = new URL(`${base}/oauth2/authorize`)
    for (const [name, value] of Object.entries({ client_id: clientId, scope: 'MERCHANT_PROFILE_READ CUSTOMERS_READ', redirect_uri: redirectUri, state: 's-1', ...params })) {
      url.searchParams.set(name, value)
    }
    const response = await fetch(url, { redirect: 'manual' })
    assert.equal(response.status, 302)
    return new URL(response.headers.get('location') as string)
  }

  async function token(body: Record<string, unknown>) {
    const response = await fetch(`${base}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: response.status, body: (await response.json()) as Record<string, unknown> }
  }

  test('PKCE: the verifier is checked, codes are single use, scopes are enforced, refresh rotates', async () => {
    const verifier = randomBytes(32).toString('base64url')
    const challenge = createHash('sha256').update(verifier).digest('base64url')
    const redirect = await authorize({ code_challenge: challenge, code_challenge_method: 'S256' })
    assert.equal(redirect.origin + redirect.pathname, redirectUri)
    assert.equal(redirect.searchParams.get('state'), 's-1')
    const code = redirect.searchParams.get('code') as string
    assert.match(code, /^sq0cgp-/)

    const noVerifier = await token({ client_id: clientId, grant_type: 'authorization_code', code })
    assert.equal(noVerifier.status, 400)
    const wrong = await token({ client_id: clientId, grant_type: 'authorization_code', code, code_verifier: randomBytes(32).toString('base64url') })
    assert.deepEqual([wrong.status, wrong.body.type], [401, 'service.not_authorized'])
    const granted = await token({ client_id: clientId, grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: redirectUri })
    assert.equal(granted.status, 200)
    assert.match(String(granted.body.access_token), /^EAAA[A-Za-z0-9_-]{60}$/)
    assert.match(String(granted.body.refresh_token), /^EQAA[A-Za-z0-9_-]{60}$/)
    assert.equal(granted.body.token_type, 'bearer')
    const expiresIn = Date.parse(String(granted.body.expires_at)) - Date.now()
    assert.ok(expiresIn > 29 * 86_400_000 && expiresIn <= 30 * 86_400_000)
    const replay = await token({ client_id: clientId, grant_type: 'authorization_code', code, code_verifier: verifier })
    assert.equal(replay.status, 401)

    const access = String(granted.body.access_token)
    const me = await api<{ merchant: { id: string } }>(access, '/v2/merchants/me')
    assert.equal(me.body.merchant.id, granted.body.merchant_id)
    assert.equal(await accountOf(access), granted.body.merchant_id)
    const forbidden = await api<SquareErrorBody>(access, '/v2/payments')
    assert.equal(forbidden.status, 403)
    assert.equal(forbidden.body.errors[0]?.code, 'INSUFFICIENT_SCOPES')

    const refreshed = await token({ client_id: clientId, grant_type: 'refresh_token', refresh_token: granted.body.refresh_token })
    assert.equal(refreshed.status, 200)
    assert.notEqual(refreshed.body.access_token, access)
    assert.notEqual(refreshed.body.refresh_token, granted.body.refresh_token)
    const reused = await token({ client_id: clientId, grant_type: 'refresh_token', refresh_token: granted.body.refresh_token })
    assert.equal(reused.status, 401)
  })

  test('code flow: the client secret is required and checked; tokens expire and can be revoked', async () => {
    const code = (await authorize({})).searchParams.get('code') as string
    assert.equal((await token({ client_id: clientId, grant_type: 'authorization_code', code })).status, 400)
    assert.equal((await token({ client_id: clientId, client_secret: 'sq0csp-somebodyelsesecret000', grant_type: 'authorization_code', code })).status, 401)
    const granted = await token({ client_id: clientId, client_secret: clientSecret, grant_type: 'authorization_code', code })
    assert.equal(granted.status, 200)

    await control('/_sim/oauth/config', 'POST', { accessTokenTtlSeconds: 0 })
    try {
      const refreshed = await token({ client_id: clientId, client_secret: clientSecret, grant_type: 'refresh_token', refresh_token: granted.body.refresh_token })
      assert.equal(refreshed.body.refresh_token, granted.body.refresh_token, 'code-flow refresh keeps the refresh token')
      const expired = await api<SquareErrorBody>(String(refreshed.body.access_token), '/v2/customers')
      assert.equal(expired.status, 401)
      assert.equal(expired.body.errors[0]?.code, 'ACCESS_TOKEN_EXPIRED')
    } finally {
      await control('/_sim/oauth/config', 'POST', { accessTokenTtlSeconds: 30 * 86_400 })
    }

    const access = String(granted.body.access_token)
    assert.equal((await api(access, '/v2/customers?limit=1')).status, 200)
    const noAuth = await fetch(`${base}/oauth2/revoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_id: clientId, access_token: access }) })
    assert.equal(noAuth.status, 401)
    const revoked = await fetch(`${base}/oauth2/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Client ${clientSecret}` },
      body: JSON.stringify({ client_id: clientId, access_token: access }),
    })
    assert.deepEqual(await revoked.json(), { success: true })
    const refused = await api<SquareErrorBody>(access, '/v2/customers')
    assert.equal(refused.status, 401)
    assert.equal(refused.body.errors[0]?.code, 'ACCESS_TOKEN_REVOKED')
    const refresh = await token({ client_id: clientId, client_secret: clientSecret, grant_type: 'refresh_token', refresh_token: granted.body.refresh_token })
    assert.equal(refresh.status, 401)
  })

  test('a denied authorization redirects with access_denied', async () => {
    const redirect = await authorize({ sim_decision: 'deny' })
    assert.equal(redirect.searchParams.get('error'), 'access_denied')
    assert.equal(redirect.searchParams.get('state'), 's-1')
    assert.equal(redirect.searchParams.get('code'), null)
  })
})
