// Wire-level tests of the QuickBooks Online simulator: plain fetch, no adapter.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { createQuickBooksSimulator } from '../src/quickbooks/index.ts'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

interface Realm {
  realmId: string
  accessToken: string
  refreshToken: string
  currency: string
  companyName: string
}

const app = createQuickBooksSimulator({ recordsPerEntity: 40 })
let base = ''

before(async () => {
  base = await app.listen({ port: 0, host: '127.0.0.1' })
})
after(async () => {
  await app.close()
})

async function control(method: string, path: string, body?: unknown): Promise<{ status: number; json: Json }> {
  const response = await fetch(`${base}${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  })
  const text = await response.text()
  return { status: response.status, json: text ? (JSON.parse(text) as Json) : {} }
}

async function newRealm(body: Record<string, unknown> = {}): Promise<Realm> {
  const { status, json } = await control('POST', '/_sim/realms', body)
  assert.equal(status, 201)
  return json as Realm
}

async function api(realm: Realm, path: string, init: { method?: string; body?: string; contentType?: string; token?: string; accept?: string | null } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${init.token ?? realm.accessToken}` }
  if (init.accept !== null) headers.accept = init.accept ?? 'application/json'
  if (init.contentType) headers['content-type'] = init.contentType
  const response = await fetch(`${base}/v3/company/${realm.realmId}${path}`, { method: init.method ?? 'GET', headers, ...(init.body !== undefined ? { body: init.body } : {}) })
  const text = await response.text()
  let json: Json = {}
  try {
    json = JSON.parse(text) as Json
  } catch {
    // XML or empty
  }
  return { status: response.status, headers: response.headers, text, json }
}

function query(realm: Realm, text: string) {
  return api(realm, `/query?query=${encodeURIComponent(text)}&minorversion=75`)
}

function ids(list: Json[] | undefined): string[] {
  return (list ?? []).map((object) => String(object.Id))
}

describe('authentication', () => {
  test('missing, malformed and unknown tokens get the gateway 401 with WWW-Authenticate', async () => {
    const realm = await newRealm({ count: 1 })
    for (const authorization of [undefined, 'Bearer not-a-token', 'Bearer eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..AAAA.BBBB.CCCC', 'Basic Zm9vOmJhcg==']) {
      const response = await fetch(`${base}/v3/company/${realm.realmId}/companyinfo/${realm.realmId}`, {
        headers: { accept: 'application/json', ...(authorization ? { authorization } : {}) },
      })
      assert.equal(response.status, 401)
      assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="Intuit", error="invalid_token"')
      const body = (await response.json()) as Json
      assert.equal(body.fault.type, 'AUTHENTICATION')
      assert.equal(body.fault.error[0].code, '3200')
      assert.equal(body.fault.error[0].message, 'message=AuthenticationFailed; errorCode=003200; statusCode=401')
      assert.match(body.fault.error[0].detail, /^Token invalid/)
      assert.match(body.time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$/)
    }
  })

  test('expired access tokens are refused with "Token expired"', async () => {
    await control('POST', '/_sim/oauth/config', { accessTokenTtlSeconds: 0 })
    const realm = await newRealm({ count: 1 })
    await control('POST', '/_sim/oauth/config', { accessTokenTtlSeconds: 3600 })
    const response = await api(realm, `/companyinfo/${realm.realmId}`)
    assert.equal(response.status, 401)
    assert.match(response.json.fault.error[0].detail, /^Token expired: /)
  })

  test('revoked credentials are refused; a token of another realm gets 403 AuthorizationFault', async () => {
    const a = await newRealm({ count: 1 })
    const b = await newRealm({ count: 1 })
    const cross = await api(b, `/companyinfo/${b.realmId}`, { token: a.accessToken })
    assert.equal(cross.status, 403)
    assert.equal(cross.json.Fault.type, 'AuthorizationFault')
    assert.equal(cross.json.Fault.Error[0].code, '3100')

    assert.equal((await api(a, `/companyinfo/${a.realmId}`)).status, 200)
    assert.deepEqual((await control('POST', '/_sim/credentials/revoke', { credential: a.refreshToken })).json, { revoked: true })
    const revoked = await api(a, `/companyinfo/${a.realmId}`)
    assert.equal(revoked.status, 401)
    assert.match(revoked.json.fault.error[0].detail, /^Token revoked/)
  })

  test('lookup finds the realm of an access or refresh token', async () => {
    const realm = await newRealm({ count: 1 })
    assert.deepEqual((await control('GET', `/_sim/accounts/lookup?credential=${encodeURIComponent(realm.accessToken)}`)).json, { accountId: realm.realmId })
    assert.deepEqual((await control('GET', `/_sim/accounts/lookup?credential=${realm.refreshToken}`)).json, { accountId: realm.realmId })
    assert.equal((await control('GET', '/_sim/accounts/lookup?credential=nope')).status, 404)
    assert.match(realm.realmId, /^\d{16}$/)
    assert.match(realm.refreshToken, /^AB11\d{10}[A-Za-z0-9]{36}$/)
  })
})

describe('reads and formats', () => {
  test('companyinfo and preferences; XML unless Accept asks for JSON', async () => {
    const realm = await newRealm({ count: 1, companyName: 'Riverside Playhouse', currency: 'GBP' })
    const info = await api(realm, `/companyinfo/${realm.realmId}`)
    assert.equal(info.status, 200)
    assert.equal(info.json.CompanyInfo.CompanyName, 'Riverside Playhouse')
    assert.ok(info.headers.get('intuit_tid'), 'intuit_tid header')
    const prefs = await api(realm, '/preferences')
    assert.equal(prefs.json.Preferences.CurrencyPrefs.HomeCurrency.value, 'GBP')
    const xml = await api(realm, `/companyinfo/${realm.realmId}`, { accept: null })
    assert.equal(xml.status, 200)
    assert.match(xml.headers.get('content-type') ?? '', /application\/xml/)
    assert.match(xml.text, /<IntuitResponse xmlns="http:\/\/schema.intuit.com\/finance\/v3" time="[^"]+"><CompanyInfo><CompanyName>Riverside Playhouse<\/CompanyName>/)
  })

  test('entities look like QuickBooks v3 JSON', async () => {
    const realm = await newRealm({ count: 5, currency: 'USD' })
    const invoice = (await api(realm, '/invoice/1')).json.Invoice
    assert.equal(invoice.Id, '1')
    assert.equal(invoice.SyncToken, '0')
    assert.equal(invoice.domain, 'QBO')
    assert.match(invoice.MetaData.LastUpdatedTime, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}-0[78]:00$/)
    assert.deepEqual(invoice.CurrencyRef, { value: 'USD', name: 'United States Dollar' })
    assert.equal(typeof invoice.TotalAmt, 'number')
    const lineSum = invoice.Line.filter((line: Json) => line.DetailType === 'SalesItemLineDetail').reduce((sum: number, line: Json) => sum + Math.round(line.Amount * 100), 0)
    assert.equal(Math.round(invoice.TotalAmt * 100), lineSum)
    const customer = (await api(realm, '/customer/1')).json.Customer
    assert.match(customer.PrimaryEmailAddr.Address, /@example\.com$/)
    assert.equal(customer.Active, true)
  })

  test('reading a missing object is a 400 ValidationFault "Object Not Found" (code 610)', async () => {
    const realm = await newRealm({ count: 2 })
    const missing = await api(realm, '/invoice/99999')
    assert.equal(missing.status, 400)
    assert.equal(missing.json.Fault.type, 'ValidationFault')
    assert.equal(missing.json.Fault.Error[0].Message, 'Object Not Found')
    assert.equal(missing.json.Fault.Error[0].code, '610')
  })

  test('the same seed gives the same realms and data', async () => {
    const other = createQuickBooksSimulator({ recordsPerEntity: 40, seed: 'determinism' })
    const twin = createQuickBooksSimulator({ recordsPerEntity: 40, seed: 'determinism' })
    try {
      const [a, b] = await Promise.all([other.listen({ port: 0, host: '127.0.0.1' }), twin.listen({ port: 0, host: '127.0.0.1' })])
      const realms = await Promise.all([a, b].map(async (url) => (await fetch(`${url}/_sim/realms`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"count":3}' })).json() as Promise<Json>))
      assert.equal(realms[0]?.realmId, realms[1]?.realmId)
      const customers = await Promise.all([a, b].map(async (url) => ((await (await fetch(`${url}/_sim/accounts/${realms[0]?.realmId}/customer`)).json()) as Json).records.map((c: Json) => c.DisplayName)))
      assert.deepEqual(customers[0], customers[1])
      assert.equal(customers[0].length, 3)
    } finally {
      await Promise.all([other.close(), twin.close()])
    }
  })
})

describe('query language', () => {
  let realm: Realm
  before(async () => {
    realm = await newRealm({ count: 250, entities: ['Customer', 'Item', 'Invoice'] })
  })

  test('STARTPOSITION is 1-based, MAXRESULTS defaults to 100, the last page is short, past the end is {}', async () => {
    const first = await query(realm, 'SELECT * FROM Customer')
    assert.equal(first.status, 200)
    assert.equal(first.json.QueryResponse.Customer.length, 100)
    assert.equal(first.json.QueryResponse.startPosition, 1)
    assert.equal(first.json.QueryResponse.maxResults, 100)
    assert.equal(first.json.QueryResponse.Customer[0].Id, '1')

    const all: string[] = []
    for (let start = 1; ; start += 60) {
      const page = await query(realm, `select * from Customer orderby Id startposition ${start} maxresults 60`)
      const list = page.json.QueryResponse.Customer as Json[] | undefined
      if (!list) {
        assert.deepEqual(page.json.QueryResponse, {})
        break
      }
      assert.equal(page.json.QueryResponse.maxResults, list.length)
      all.push(...ids(list))
      if (list.length < 60) {
        assert.equal(list.length, 250 - 4 * 60)
        break
      }
    }
    assert.deepEqual(
      all,
      Array.from({ length: 250 }, (_, i) => String(i + 1)),
    )
    const past = await query(realm, 'SELECT * FROM Customer STARTPOSITION 251 MAXRESULTS 10')
    assert.deepEqual(past.json.QueryResponse, {})
  })

  test('MAXRESULTS is capped at 1000; COUNT(*) answers totalCount; ORDERBY DESC', async () => {
    const big = await newRealm({ count: 1100, entities: ['Item'] })
    const capped = await query(big, 'SELECT * FROM Item MAXRESULTS 5000')
    assert.equal(capped.json.QueryResponse.Item.length, 1000)
    assert.deepEqual((await query(big, 'SELECT COUNT(*) FROM Item')).json.QueryResponse, { totalCount: 1100 })
    const desc = await query(realm, 'SELECT * FROM Invoice ORDERBY Id DESC MAXRESULTS 3')
    assert.deepEqual(ids(desc.json.QueryResponse.Invoice), ['250', '249', '248'])
  })

  test('POST with Content-Type application/text runs the query', async () => {
    const response = await api(realm, '/query?minorversion=75', { method: 'POST', body: "SELECT * FROM Customer WHERE Id IN ('3', '5') ", contentType: 'application/text' })
    assert.equal(response.status, 200)
    assert.deepEqual(ids(response.json.QueryResponse.Customer), ['3', '5'])
  })

  test('parse errors are 400 QueryParserError (4000); unknown properties QueryValidationError (4001)', async () => {
    const parse = await query(realm, 'SELECT * FORM Customer')
    assert.equal(parse.status, 400)
    assert.equal(parse.json.Fault.type, 'ValidationFault')
    assert.equal(parse.json.Fault.Error[0].code, '4000')
    assert.equal(parse.json.Fault.Error[0].Message, 'Error parsing query')
    assert.match(parse.json.Fault.Error[0].Detail, /^QueryParserError: Encountered " "FORM" " at line 1, column 10/)
    for (const bad of ['SELECT * FROM Customer MAXRESULTS ten', "SELECT * FROM Customer WHERE Id = '1", 'SELECT * FROM Widget', 'SELECT * FROM Customer ORDER BY Id']) {
      const response = await query(realm, bad)
      assert.equal(response.status, 400, bad)
      assert.equal(response.json.Fault.Error[0].code, '4000', bad)
    }
    const validation = await query(realm, 'SELECT * FROM Invoice WHERE Active = true')
    assert.equal(validation.status, 400)
    assert.equal(validation.json.Fault.Error[0].code, '4001')
    assert.match(validation.json.Fault.Error[0].Detail, /property 'Active' is not queryable/)
    const badTime = await query(realm, "SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime > 'yesterday'")
    assert.equal(badTime.status, 400)
  })

  test('inactive customers are hidden unless the query filters on Active', async () => {
    await control('DELETE', `/_sim/accounts/${realm.realmId}/customer/7`)
    const active = await query(realm, 'SELECT COUNT(*) FROM Customer')
    assert.equal(active.json.QueryResponse.totalCount, 249)
    const both = await query(realm, 'SELECT COUNT(*) FROM Customer WHERE Active IN (true, false)')
    assert.equal(both.json.QueryResponse.totalCount, 250)
    const inactive = await query(realm, 'SELECT * FROM Customer WHERE Active = false')
    assert.deepEqual(ids(inactive.json.QueryResponse.Customer), ['7'])
    assert.equal(inactive.json.QueryResponse.Customer[0].Active, false)
  })

  test('MetaData.LastUpdatedTime filters see control-API changes; times are whole seconds', async () => {
    const before = new Date(Date.now() - 1000).toISOString()
    const patched = await control('PATCH', `/_sim/accounts/${realm.realmId}/invoice/12`, { PrivateNote: 'changed' })
    assert.equal(patched.json.SyncToken, '1')
    assert.equal(patched.json.PrivateNote, 'changed')
    const created = await control('POST', `/_sim/accounts/${realm.realmId}/invoice`, { count: 2 })
    assert.deepEqual(created.json.ids, ['251', '252'])
    const changed = await query(realm, `SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '${before}' ORDERBY MetaData.LastUpdatedTime`)
    assert.deepEqual(ids(changed.json.QueryResponse.Invoice).sort(), ['12', '251', '252'])
    const projected = await query(realm, `SELECT Id, DocNumber FROM Invoice WHERE Id = '12'`)
    assert.deepEqual(Object.keys(projected.json.QueryResponse.Invoice[0]).sort(), ['DocNumber', 'Id', 'domain', 'sparse'])
  })
})

describe('change data capture', () => {
  test('reports creates, updates, inactive customers and hard deletions since changedSince', async () => {
    const realm = await newRealm({ count: 30 })
    const since = new Date(Date.now() - 2000).toISOString()
    const empty = await api(realm, `/cdc?entities=Customer,Invoice&changedSince=${encodeURIComponent(since)}`)
    assert.equal(empty.status, 200)
    assert.deepEqual(empty.json.CDCResponse, [{ QueryResponse: [{}, {}] }])

    await control('PATCH', `/_sim/accounts/${realm.realmId}/customer/4`, { GivenName: 'Changed' })
    await control('DELETE', `/_sim/accounts/${realm.realmId}/customer/5`)
    await control('DELETE', `/_sim/accounts/${realm.realmId}/invoice/15`)
    const created = await control('POST', `/_sim/accounts/${realm.realmId}/invoice`, { count: 1 })
    const cdc = await api(realm, `/cdc?entities=Customer,Invoice&changedSince=${encodeURIComponent(since)}&minorversion=75`)
    const [customers, invoices] = cdc.json.CDCResponse[0].QueryResponse as Json[]
    assert.deepEqual(ids(customers?.Customer).sort(), ['4', '5'])
    assert.equal(customers?.totalCount, 2)
    assert.equal(customers?.Customer.find((c: Json) => c.Id === '5').Active, false)
    const deleted = invoices?.Invoice.find((i: Json) => i.Id === '15')
    assert.deepEqual(Object.keys(deleted).sort(), ['Id', 'MetaData', 'domain', 'status'])
    assert.equal(deleted.status, 'Deleted')
    assert.deepEqual(ids(invoices?.Invoice).sort(), ['15', created.json.ids[0]].sort())
    const gone = await api(realm, '/invoice/15')
    assert.equal(gone.json.Fault.Error[0].code, '610')
  })

  test('changedSince older than 30 days is refused; at most 1000 objects per entity', async () => {
    const realm = await newRealm({ count: 1 })
    const old = new Date(Date.now() - 31 * 86_400_000).toISOString()
    const refused = await api(realm, `/cdc?entities=Customer&changedSince=${encodeURIComponent(old)}`)
    assert.equal(refused.status, 400)
    assert.equal(refused.json.Fault.type, 'ValidationFault')
    assert.match(refused.json.Fault.Error[0].Detail, /changedSince/)
    assert.equal((await api(realm, '/cdc?entities=Customer')).status, 400)
    assert.equal((await api(realm, `/cdc?entities=Widget&changedSince=${encodeURIComponent(new Date().toISOString())}`)).status, 400)

    const since = new Date(Date.now() - 1000).toISOString()
    await control('POST', `/_sim/accounts/${realm.realmId}/customer`, { count: 1005 })
    const cdc = await api(realm, `/cdc?entities=Customer&changedSince=${encodeURIComponent(since)}`)
    const [customers] = cdc.json.CDCResponse[0].QueryResponse as Json[]
    assert.equal(customers?.Customer.length, 1000)
    assert.equal(customers?.maxResults, 1000)
  })
})

describe('writes', () => {
  test('create customer; duplicate DisplayName is 6240; stale SyncToken is 5010', async () => {
    const realm = await newRealm({ count: 2 })
    const body = JSON.stringify({ DisplayName: 'Box Office Walk-in', PrimaryEmailAddr: { Address: 'walkin@example.com' } })
    const created = await api(realm, '/customer?minorversion=75', { method: 'POST', body, contentType: 'application/json' })
    assert.equal(created.status, 200)
    assert.equal(created.json.Customer.Id, '3')
    assert.equal(created.json.Customer.SyncToken, '0')
    const duplicate = await api(realm, '/customer', { method: 'POST', body, contentType: 'application/json' })
    assert.equal(duplicate.status, 400)
    assert.equal(duplicate.json.Fault.Error[0].code, '6240')
    const stale = await api(realm, '/customer', { method: 'POST', body: JSON.stringify({ Id: '3', SyncToken: '5', sparse: true, GivenName: 'X' }), contentType: 'application/json' })
    assert.equal(stale.json.Fault.Error[0].code, '5010')
    const updated = await api(realm, '/customer', { method: 'POST', body: JSON.stringify({ Id: '3', SyncToken: '0', sparse: true, GivenName: 'Walk' }), contentType: 'application/json' })
    assert.equal(updated.json.Customer.SyncToken, '1')
    assert.equal(updated.json.Customer.GivenName, 'Walk')
    const malformed = await api(realm, '/customer', { method: 'POST', body: '{not json', contentType: 'application/json' })
    assert.equal(malformed.status, 400)
    assert.equal(malformed.json.Fault.type, 'ValidationFault')
  })

  test('sales receipts: validation, totals and requestid idempotency', async () => {
    const realm = await newRealm({ count: 3, currency: 'USD' })
    const line = { Amount: 12.29, DetailType: 'SalesItemLineDetail', SalesItemLineDetail: { ItemRef: { value: '1' }, Qty: 1, UnitPrice: 12.29 } }
    const post = (body: unknown, requestId?: string) => api(realm, `/salesreceipt?minorversion=75${requestId ? `&requestid=${requestId}` : ''}`, { method: 'POST', body: JSON.stringify(body), contentType: 'application/json' })

    const noLines = await post({ CustomerRef: { value: '1' } })
    assert.equal(noLines.status, 400)
    assert.equal(noLines.json.Fault.Error[0].code, '2020')
    const noAmount = await post({ Line: [{ DetailType: 'SalesItemLineDetail', SalesItemLineDetail: {} }] })
    assert.equal(noAmount.json.Fault.Error[0].element, 'Line[0].Amount')
    const noDetail = await post({ Line: [{ Amount: 5, DetailType: 'SalesItemLineDetail' }] })
    assert.equal(noDetail.json.Fault.Error[0].element, 'Line[0].SalesItemLineDetail')
    const badCustomer = await post({ CustomerRef: { value: '999' }, Line: [line] })
    assert.equal(badCustomer.json.Fault.Error[0].code, '2500')
    const wrongCurrency = await post({ CurrencyRef: { value: 'EUR' }, Line: [line] })
    assert.equal(wrongCurrency.json.Fault.Error[0].code, '6000')

    const first = await post({ CustomerRef: { value: '2' }, Line: [line, { ...line, Amount: 0.01 }] }, 'pay-123')
    assert.equal(first.status, 200)
    assert.equal(first.json.SalesReceipt.TotalAmt, 12.3)
    const again = await post({ CustomerRef: { value: '2' }, Line: [line] }, 'pay-123')
    assert.deepEqual(again.json.SalesReceipt, first.json.SalesReceipt)
    const other = await post({ Line: [line] }, 'pay-124')
    assert.notEqual(other.json.SalesReceipt.Id, first.json.SalesReceipt.Id)
    const count = await query(realm, 'SELECT COUNT(*) FROM SalesReceipt')
    assert.equal(count.json.QueryResponse.totalCount, 2)
  })
})

describe('oauth', () => {
  const redirectUri = 'https://hub.example.com/oauth/quickbooks/callback'
  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`
  const tokenCall = (form: Record<string, string>, authorization = basic('app-1', 's3cret')) =>
    fetch(`${base}/oauth2/v1/tokens/bearer`, {
      method: 'POST',
      headers: { authorization, accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    })

  before(async () => {
    await control('POST', '/_sim/oauth/clients', { clientId: 'app-1', clientSecret: 's3cret' })
  })

  async function authorize(extra: Record<string, string> = {}): Promise<URL> {
    const url = new URL(`${base}/connect/oauth2`)
    const params = { client_id: 'app-1', response_type: 'code', scope: 'com.intuit.quickbooks.accounting', redirect_uri: redirectUri, state: 'st-42', ...extra }
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value)
    const response = await fetch(url, { redirect: 'manual' })
    assert.equal(response.status, 302)
    return new URL(response.headers.get('location') ?? '')
  }

  test('authorize -> code + realmId -> tokens; refresh rotates and the old refresh token is spent', async () => {
    const callback = await authorize()
    assert.equal(callback.origin + callback.pathname, redirectUri)
    assert.equal(callback.searchParams.get('state'), 'st-42')
    const code = callback.searchParams.get('code') ?? ''
    const realmId = callback.searchParams.get('realmId') ?? ''
    assert.match(realmId, /^\d{16}$/)

    const exchanged = await tokenCall({ grant_type: 'authorization_code', code, redirect_uri: redirectUri })
    assert.equal(exchanged.status, 200)
    const tokens = (await exchanged.json()) as Json
    assert.equal(tokens.token_type, 'bearer')
    assert.equal(tokens.expires_in, 3600)
    assert.equal(tokens.x_refresh_token_expires_in, 8_640_000)
    const reused = await tokenCall({ grant_type: 'authorization_code', code, redirect_uri: redirectUri })
    assert.equal(reused.status, 400)
    assert.deepEqual(await reused.json(), { error: 'invalid_grant' })

    const realm: Realm = { realmId, accessToken: tokens.access_token, refreshToken: tokens.refresh_token, currency: '', companyName: '' }
    assert.equal((await api(realm, `/companyinfo/${realmId}`)).status, 200)

    const refreshed = (await (await tokenCall({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token })).json()) as Json
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token)
    assert.notEqual(refreshed.access_token, tokens.access_token)
    const spent = await tokenCall({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token })
    assert.equal(spent.status, 400)
    assert.deepEqual(await spent.json(), { error: 'invalid_grant' })

    // Two concurrent refreshes of one token: exactly one wins.
    const results = await Promise.all([0, 1].map(() => tokenCall({ grant_type: 'refresh_token', refresh_token: refreshed.refresh_token })))
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 400])
  })

  test('client authentication, bad scope and revoke', async () => {
    assert.equal((await tokenCall({ grant_type: 'refresh_token', refresh_token: 'x' }, basic('app-1', 'wrong'))).status, 401)
    const noAuth = await fetch(`${base}/oauth2/v1/tokens/bearer`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=refresh_token&refresh_token=x' })
    assert.equal(noAuth.status, 401)
    assert.deepEqual(await noAuth.json(), { error: 'invalid_client' })
    assert.deepEqual(await (await tokenCall({ grant_type: 'password' })).json(), { error: 'unsupported_grant_type' })
    const badScope = await authorize({ scope: 'com.example.everything' })
    assert.equal(badScope.searchParams.get('error'), 'invalid_scope')
    assert.equal(badScope.searchParams.get('state'), 'st-42')

    const callback = await authorize()
    const tokens = (await (await tokenCall({ grant_type: 'authorization_code', code: callback.searchParams.get('code') ?? '', redirect_uri: redirectUri })).json()) as Json
    const revoke = await fetch(`${base}/oauth2/v1/tokens/revoke`, {
      method: 'POST',
      headers: { authorization: basic('app-1', 's3cret'), 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ token: tokens.refresh_token }),
    })
    assert.equal(revoke.status, 200)
    const realm: Realm = { realmId: callback.searchParams.get('realmId') ?? '', accessToken: tokens.access_token, refreshToken: '', currency: '', companyName: '' }
    assert.equal((await api(realm, `/companyinfo/${realm.realmId}`)).status, 401)
    assert.equal((await tokenCall({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token })).status, 400)
  })
})

describe('faults', () => {
  test('rate_limit: 429 ThrottleExceeded with Retry-After only when the plan sets it', async () => {
    const realm = await newRealm({ count: 1 })
    await control('POST', '/_sim/faults', { kind: 'rate_limit', account: realm.realmId, times: 1, retryAfterSeconds: 7 })
    const limited = await api(realm, `/companyinfo/${realm.realmId}`)
    assert.equal(limited.status, 429)
    assert.equal(limited.headers.get('retry-after'), '7')
    assert.equal(limited.json.Fault.Error[0].code, '3001')
    assert.match(limited.json.Fault.Error[0].Message, /ThrottleExceeded/)
    await control('POST', '/_sim/faults', { kind: 'rate_limit', account: realm.realmId, times: 1 })
    const bare = await api(realm, `/companyinfo/${realm.realmId}`)
    assert.equal(bare.status, 429)
    assert.equal(bare.headers.get('retry-after'), null)
    assert.equal((await api(realm, `/companyinfo/${realm.realmId}`)).status, 200)
  })

  test('server_error, expired_token, slow, reset; faults scoped to one realm and never on /_sim', async () => {
    const realm = await newRealm({ count: 1 })
    const bystander = await newRealm({ count: 1 })
    await control('POST', '/_sim/faults', { kind: 'server_error', account: realm.realmId, times: 1 })
    assert.equal((await api(bystander, `/companyinfo/${bystander.realmId}`)).status, 200)
    assert.equal((await control('GET', '/_sim/faults')).json.faults.length, 1)
    const failed = await api(realm, `/companyinfo/${realm.realmId}`)
    assert.equal(failed.status, 500)
    assert.equal(failed.json.Fault.type, 'SystemFault')
    assert.equal(failed.json.Fault.Error[0].code, '10000')

    await control('POST', '/_sim/faults', { kind: 'expired_token', account: realm.realmId, times: 1 })
    const expired = await api(realm, `/companyinfo/${realm.realmId}`)
    assert.equal(expired.status, 401)
    assert.match(expired.json.fault.error[0].detail, /^Token expired/)

    await control('POST', '/_sim/faults', { kind: 'slow', account: realm.realmId, times: 1, delayMs: 300 })
    const started = Date.now()
    assert.equal((await api(realm, `/companyinfo/${realm.realmId}`)).status, 200)
    assert.ok(Date.now() - started >= 290, 'slow fault delays the answer')

    await control('POST', '/_sim/faults', { kind: 'reset', account: realm.realmId, times: 1, pathIncludes: '/query' })
    await assert.rejects(query(realm, 'SELECT * FROM Customer'))
    assert.equal((await query(realm, 'SELECT * FROM Customer')).status, 200)

    await control('POST', '/_sim/faults', { kind: 'server_error' })
    assert.equal((await control('GET', `/_sim/accounts/${realm.realmId}/customer`)).status, 200)
    await control('DELETE', '/_sim/faults')
    const served = (await control('GET', '/_sim/faults/served')).json.served as Json[]
    assert.deepEqual(
      served.filter((entry) => entry.path.includes(realm.realmId)).map((entry) => entry.kind),
      ['server_error', 'expired_token', 'slow', 'reset'],
    )
  })

  test('enforceRateLimits: 500 requests per minute and 10 concurrent per realm', async () => {
    const limited = createQuickBooksSimulator({ recordsPerEntity: 1, enforceRateLimits: true })
    const url = await limited.listen({ port: 0, host: '127.0.0.1' })
    try {
      const make = async () => (await (await fetch(`${url}/_sim/realms`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json()) as Realm
      const realm = await make()
      const other = await make()
      const call = (r: Realm) => fetch(`${url}/v3/company/${r.realmId}/preferences`, { headers: { authorization: `Bearer ${r.accessToken}`, accept: 'application/json' } })
      for (let i = 0; i < 500; i++) assert.equal((await call(realm)).status, 200)
      const over = await call(realm)
      assert.equal(over.status, 429)
      assert.ok(Number(over.headers.get('retry-after')) >= 1, 'Retry-After of at least a second')
      assert.equal(((await over.json()) as Json).Fault.Error[0].code, '3001')
      assert.equal((await call(other)).status, 200)

      await fetch(`${url}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'slow', account: other.realmId, times: 10, delayMs: 1500 }) })
      const burst = await Promise.all(Array.from({ length: 11 }, () => call(other)))
      assert.deepEqual(burst.map((r) => r.status).sort(), [...Array(10).fill(200), 429])
    } finally {
      await limited.close()
    }
  })
})

describe('webhooks', () => {
  let receiver: Server
  let receiverUrl = ''
  const received: Array<{ headers: IncomingHttpHeaders; body: string }> = []

  before(async () => {
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') })
        response.writeHead(200).end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/quickbooks`
  })
  after(async () => {
    await control('DELETE', '/_sim/webhooks')
    receiver.closeAllConnections()
    await new Promise<void>((resolve) => receiver.close(() => resolve()))
  })

  test('fire posts eventNotifications signed with base64 HMAC-SHA256 of the raw body', async () => {
    const realm = await newRealm({ count: 3 })
    assert.equal((await control('POST', '/_sim/webhooks/fire', { accountId: realm.realmId, type: 'Customer.Update' })).status, 409)
    const configured = await control('POST', '/_sim/webhooks', { url: receiverUrl, verifierToken: 'verifier-abc' })
    assert.equal(configured.status, 201)
    assert.deepEqual((await control('GET', '/_sim/webhooks')).json, { webhooks: [{ url: receiverUrl, verifierToken: 'verifier-abc', autoDeliver: false }] })

    const fired = await control('POST', '/_sim/webhooks/fire', { accountId: realm.realmId, type: 'Customer.Update', objectId: '2' })
    assert.equal(fired.json.status, 200)
    const delivery = received.at(-1)
    assert.ok(delivery, 'the receiver got the notification')
    assert.equal(delivery.body, fired.json.sent.body)
    assert.equal(delivery.headers['intuit-signature'], createHmac('sha256', 'verifier-abc').update(delivery.body).digest('base64'))
    const payload = JSON.parse(delivery.body) as Json
    const entity = payload.eventNotifications[0].dataChangeEvent.entities[0]
    assert.equal(payload.eventNotifications[0].realmId, realm.realmId)
    assert.deepEqual({ name: entity.name, id: entity.id, operation: entity.operation }, { name: 'Customer', id: '2', operation: 'Update' })
    assert.match(entity.lastUpdated, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4}$/)
  })

  test('autoDeliver notifies on control-API changes', async () => {
    const realm = await newRealm({ count: 3 })
    await control('POST', '/_sim/webhooks', { url: receiverUrl, verifierToken: 'verifier-auto', autoDeliver: true })
    const before = received.length
    await control('DELETE', `/_sim/accounts/${realm.realmId}/invoice/2`)
    for (let i = 0; i < 250 && received.length === before; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    const delivery = received.at(-1)
    assert.ok(delivery && received.length === before + 1, `expected exactly one delivery, got ${received.length - before}`)
    const change = (JSON.parse(delivery.body) as Json).eventNotifications[0].dataChangeEvent.entities[0]
    assert.deepEqual({ name: change.name, id: change.id, operation: change.operation }, { name: 'Invoice', id: '2', operation: 'Delete' })
    assert.equal(delivery.headers['intuit-signature'], createHmac('sha256', 'verifier-auto').update(delivery.body).digest('base64'))
    await control('POST', '/_sim/webhooks', { url: receiverUrl, verifierToken: 'verifier-abc' })
  })
})
