// The Square adapter driven through the real `square` SDK against the Square simulator on a
// random port: credentials, full and incremental listing with exact id sets, checkpoints, typed
// errors for each fault, webhooks (adapter and SDK helper) and OAuth with PKCE.
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { WebhooksHelper } from 'square'
import { createSquareSimulator } from '../../../../packages/provider-simulators/src/square/index.ts'
import type { SquareSimulator } from '../../../../packages/provider-simulators/src/square/index.ts'
import { createSquareAdapter, decodeSquareCursor } from '../../src/providers/square/index.ts'
import type { CanonicalRecord, EntityName } from '../../src/providers/canonical.ts'
import type { ListOptions, ProviderAdapter, ProviderContext } from '../../src/providers/provider-adapter.ts'
import { ProviderAuthError, ProviderInvalidError, ProviderRateLimitedError, ProviderUnavailableError, WebhookVerificationError } from '../../src/providers/provider-errors.ts'

const URL_SAFE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const CLIENT_ID = 'sq0idp-venuehubadaptertest01'
const CLIENT_SECRET = 'sq0csp-venuehubadaptersecret00000000000000'

function newToken(): string {
  let out = 'EAAA'
  for (const byte of randomBytes(60)) out += URL_SAFE[byte % URL_SAFE.length]
  return out
}

let sim: SquareSimulator
let base: string
const adapter: ProviderAdapter = createSquareAdapter({ timeoutSeconds: 5 })

before(async () => {
  sim = createSquareSimulator({ recordsPerEntity: 300 })
  await sim.listen({ port: 0, host: '127.0.0.1' })
  base = `http://127.0.0.1:${(sim.server.address() as AddressInfo).port}`
  await control('/_sim/oauth/clients', 'POST', { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET })
})

after(async () => {
  await sim.close()
})

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

interface Connection {
  ctx: ProviderContext
  accountId: string
}

async function connect(): Promise<Connection> {
  const token = newToken()
  const { accountId } = await control<{ accountId: string }>(`/_sim/accounts/lookup?credential=${token}`)
  return { ctx: { credentials: { apiKey: token }, baseUrl: base }, accountId }
}

interface Run<E extends EntityName> {
  records: Array<CanonicalRecord<E>>
  deletedIds: string[]
  cursor: string
  pages: number
  cursors: string[]
}

/** Drains listChanges; `onPage` may change the account between pages or stop the run (return true). */
async function run<E extends EntityName>(ctx: ProviderContext, entity: E, options: ListOptions, onPage?: (page: number, records: Array<CanonicalRecord<E>>) => Promise<boolean | void>): Promise<Run<E>> {
  const out: Run<E> = { records: [], deletedIds: [], cursor: '', pages: 0, cursors: [] }
  for await (const page of adapter.listChanges(ctx, entity, options)) {
    out.records.push(...page.records)
    out.deletedIds.push(...page.deletedIds)
    out.cursor = page.cursor
    out.cursors.push(page.cursor)
    out.pages += 1
    if (onPage && (await onPage(out.pages, page.records))) break
  }
  return out
}

const ids = (records: Array<{ externalId: string }>): string[] => records.map((record) => record.externalId)

function assertUnique(list: string[], message = 'no id repeated'): void {
  assert.equal(new Set(list).size, list.length, message)
}

describe('verifyCredentials', () => {
  test('a good token names its merchant', async () => {
    const { ctx, accountId } = await connect()
    const info = await adapter.verifyCredentials(ctx)
    assert.equal(info.accountId, accountId)
    assert.equal(typeof info.name, 'string')
    assert.ok(adapter.auth.type === 'api_key' && adapter.auth.keyPattern.test(ctx.credentials.apiKey as string))
  })

  test('malformed, revoked and missing tokens are auth errors', async () => {
    const malformed = adapter.verifyCredentials({ credentials: { apiKey: 'EAAAnot-a-token' }, baseUrl: base })
    await assert.rejects(malformed, (error: unknown) => error instanceof ProviderAuthError && error.status === 401 && error.providerCode === 'UNAUTHORIZED')

    const { ctx } = await connect()
    await adapter.verifyCredentials(ctx)
    await control('/_sim/credentials/revoke', 'POST', { credential: ctx.credentials.apiKey })
    await assert.rejects(adapter.verifyCredentials(ctx), (error: unknown) => error instanceof ProviderAuthError && error.status === 401)

    await assert.rejects(adapter.verifyCredentials({ credentials: {}, baseUrl: base }), ProviderAuthError)
  })
})

describe('full listing', () => {
  test('3,000 customers: every one exactly once, even while records change, appear and disappear', async () => {
    const { ctx, accountId } = await connect()
    await control(`/_sim/accounts/${accountId}/seed`, 'POST', { count: 3000, entity: 'customer' })
    const baseline = await run(ctx, 'customer', { mode: 'full', cursor: null, pageSize: 100 })
    assert.equal(baseline.records.length, 3000)
    assert.equal(baseline.pages, 30)
    assertUnique(ids(baseline.records))
    const sample = baseline.records[0] as CanonicalRecord<'customer'>
    assert.match(sample.data.email ?? '', /@example\.com$/)
    assert.equal((sample.raw as { email_address: string }).email_address, sample.data.email)
    assert.equal(typeof (sample.raw as { version: unknown }).version, 'number')

    const visited = baseline.records[120] as CanonicalRecord<'customer'>
    const unvisited = baseline.records[2500] as CanonicalRecord<'customer'>
    const doomed = baseline.records[2600] as CanonicalRecord<'customer'>
    let created: string[] = []
    const walk = await run(ctx, 'customer', { mode: 'full', cursor: null, pageSize: 100 }, async (page) => {
      if (page !== 5) return
      await control(`/_sim/accounts/${accountId}/customer/${visited.externalId}`, 'PATCH', { given_name: 'Visited' })
      await control(`/_sim/accounts/${accountId}/customer/${unvisited.externalId}`, 'PATCH', { given_name: 'Unvisited' })
      await control(`/_sim/accounts/${accountId}/customer/${doomed.externalId}`, 'DELETE')
      created = (await control<{ created: string[] }>(`/_sim/accounts/${accountId}/customer`, 'POST', { count: 5 })).created
    })
    assertUnique(ids(walk.records))
    const expected = new Set([...ids(baseline.records).filter((id) => id !== doomed.externalId), ...created])
    assert.deepEqual(new Set(ids(walk.records)), expected)
    assert.equal(walk.records.length, 3004)
    assert.equal(walk.records.find((record) => record.externalId === unvisited.externalId)?.data.givenName, 'Unvisited')

    // The run's watermark is its start: only what changed behind the walk comes next, once.
    const next = await run(ctx, 'customer', { mode: 'incremental', cursor: walk.cursor })
    assert.deepEqual(ids(next.records), [visited.externalId])
    assert.equal(next.records[0]?.data.givenName, 'Visited')
    assert.deepEqual(next.deletedIds, [], 'Square keeps no customer tombstones')
  })

  test('payments: every location and payments older than a year, amounts in minor units', async () => {
    const { ctx, accountId } = await connect()
    const summary = await control<{ counts: { payment: number }; merchant: { currency: string } }>(`/_sim/accounts/${accountId}`)
    const walk = await run(ctx, 'payment', { mode: 'full', cursor: null })
    assert.equal(walk.records.length, summary.counts.payment)
    assertUnique(ids(walk.records))
    const yearAgo = Date.now() - 365 * 86_400_000
    assert.ok(walk.records.some((record) => Date.parse(record.data.createdAt ?? '') < yearAgo))
    for (const record of walk.records) {
      assert.ok(Number.isInteger(record.data.amount) && record.data.amount > 0)
      assert.equal(record.data.currency, summary.merchant.currency)
      assert.equal((record.raw as { total_money: { amount: number } }).total_money.amount, record.data.amount)
    }
    assert.ok(walk.records.some((record) => record.data.status === 'completed'))
  })

  test('products: catalog items with a single price, archived ones inactive', async () => {
    const { ctx } = await connect()
    const walk = await run(ctx, 'product', { mode: 'full', cursor: null })
    assert.equal(walk.records.length, 300)
    assertUnique(ids(walk.records))
    for (const record of walk.records) {
      const raw = record.raw as { item_data: { is_archived: boolean; variations: unknown[] } }
      assert.equal(record.data.active, !raw.item_data.is_archived)
      if (raw.item_data.variations.length === 1) assert.ok(Number.isInteger(record.data.unitAmount))
      else assert.equal(record.data.unitAmount, null)
    }
  })
})

describe('incremental listing', () => {
  test('customers: exactly the created and changed ones; then nothing', async () => {
    const { ctx, accountId } = await connect()
    const full = await run(ctx, 'customer', { mode: 'full', cursor: null })
    const [a, b, c] = full.records as [CanonicalRecord<'customer'>, CanonicalRecord<'customer'>, CanonicalRecord<'customer'>]
    const created = (await control<{ created: string[] }>(`/_sim/accounts/${accountId}/customer`, 'POST', { count: 3 })).created
    await control(`/_sim/accounts/${accountId}/customer/${a.externalId}`, 'PATCH', { email_address: 'new.address@example.com' })
    await control(`/_sim/accounts/${accountId}/customer/${b.externalId}`, 'PATCH', { company_name: 'New Co' })
    await control(`/_sim/accounts/${accountId}/customer/${c.externalId}`, 'DELETE')

    const changes = await run(ctx, 'customer', { mode: 'incremental', cursor: full.cursor })
    assert.deepEqual(new Set(ids(changes.records)), new Set([...created, a.externalId, b.externalId]))
    assert.equal(changes.records.length, 5)
    assert.deepEqual(changes.deletedIds, [])
    assert.equal(changes.records.find((record) => record.externalId === a.externalId)?.data.email, 'new.address@example.com')

    const again = await run(ctx, 'customer', { mode: 'incremental', cursor: changes.cursor })
    assert.deepEqual(ids(again.records), [])
  })

  test('products: changes and catalog deletions', async () => {
    const { ctx, accountId } = await connect()
    const full = await run(ctx, 'product', { mode: 'full', cursor: null })
    const [changed, removed] = full.records as [CanonicalRecord<'product'>, CanonicalRecord<'product'>]
    const created = (await control<{ created: string[] }>(`/_sim/accounts/${accountId}/product`, 'POST', { count: 2 })).created
    await control(`/_sim/accounts/${accountId}/product/${changed.externalId}`, 'PATCH', { name: 'Gala night', price_money: { amount: 4550, currency: changed.data.currency ?? 'USD' } })
    await control(`/_sim/accounts/${accountId}/product/${removed.externalId}`, 'DELETE')

    const changes = await run(ctx, 'product', { mode: 'incremental', cursor: full.cursor })
    assert.deepEqual(new Set(ids(changes.records)), new Set([...created, changed.externalId]))
    assert.equal(changes.records.length, 3)
    assert.deepEqual(changes.deletedIds, [removed.externalId])
    const renamed = changes.records.find((record) => record.externalId === changed.externalId)
    assert.equal(renamed?.data.name, 'Gala night')
    assert.equal(renamed?.data.unitAmount, 4550)

    const again = await run(ctx, 'product', { mode: 'incremental', cursor: changes.cursor })
    assert.deepEqual([ids(again.records), again.deletedIds], [[], []])
  })

  test('payments: new ones and status changes, including a payment older than a year', async () => {
    const { ctx, accountId } = await connect()
    const full = await run(ctx, 'payment', { mode: 'full', cursor: null })
    const yearAgo = Date.now() - 365 * 86_400_000
    const old = full.records.find((record) => Date.parse(record.data.createdAt ?? '') < yearAgo) as CanonicalRecord<'payment'>
    const created = (await control<{ created: string[] }>(`/_sim/accounts/${accountId}/payment`, 'POST', { count: 2 })).created
    await control(`/_sim/accounts/${accountId}/payment/${old.externalId}`, 'PATCH', { status: 'CANCELED' })

    const changes = await run(ctx, 'payment', { mode: 'incremental', cursor: full.cursor })
    assert.deepEqual(new Set(ids(changes.records)), new Set([...created, old.externalId]))
    assert.equal(changes.records.length, 3)
    assert.equal(changes.records.find((record) => record.externalId === old.externalId)?.data.status, 'canceled')
    const again = await run(ctx, 'payment', { mode: 'incremental', cursor: changes.cursor })
    assert.deepEqual(ids(again.records), [])
  })

  test('an incremental run with no previous cursor is a full run', async () => {
    const { ctx } = await connect()
    const runAll = await run(ctx, 'product', { mode: 'incremental', cursor: null })
    assert.equal(runAll.records.length, 300)
  })
})

describe('checkpoints', () => {
  test('a full customer run resumes after its last page checkpoint', async () => {
    const { ctx } = await connect()
    const first = await run(ctx, 'customer', { mode: 'full', cursor: null, pageSize: 50 }, async (page) => page === 3)
    assert.equal(first.records.length, 150)
    const checkpoint = decodeSquareCursor(first.cursor, 'customer')
    assert.equal(checkpoint?.kind, 'checkpoint')
    const rest = await run(ctx, 'customer', { mode: 'full', cursor: first.cursor, pageSize: 50 })
    const all = [...ids(first.records), ...ids(rest.records)]
    assertUnique(all)
    assert.equal(all.length, 300)
  })

  test('a payment run resumes in the middle of a location', async () => {
    const { ctx } = await connect()
    const reference = await run(ctx, 'payment', { mode: 'full', cursor: null, pageSize: 100 })
    const first = await run(ctx, 'payment', { mode: 'full', cursor: null, pageSize: 40 }, async (page) => page === 2)
    const rest = await run(ctx, 'payment', { mode: 'full', cursor: first.cursor, pageSize: 40 })
    const all = [...ids(first.records), ...ids(rest.records)]
    assertUnique(all)
    assert.deepEqual(new Set(all), new Set(ids(reference.records)))
  })

  test('an incremental run resumes from its checkpoint; a rate limit mid-run loses nothing', async () => {
    const { ctx, accountId } = await connect()
    const full = await run(ctx, 'customer', { mode: 'full', cursor: null })
    const created = (await control<{ created: string[] }>(`/_sim/accounts/${accountId}/customer`, 'POST', { count: 30 })).created

    const first = await run(ctx, 'customer', { mode: 'incremental', cursor: full.cursor, pageSize: 10 }, async (page) => {
      if (page === 1) await control('/_sim/faults', 'POST', { kind: 'rate_limit', times: 1, account: accountId, retryAfterSeconds: 2 })
    }).catch((error: unknown) => error)
    assert.ok(first instanceof ProviderRateLimitedError)
    assert.equal(first.retryAfterMs, 2000)

    // The engine keeps the cursor of the last page it processed; replay that here.
    const partial = await run(ctx, 'customer', { mode: 'incremental', cursor: full.cursor, pageSize: 10 }, async (page) => page === 1)
    const rest = await run(ctx, 'customer', { mode: 'incremental', cursor: partial.cursor, pageSize: 10 })
    const all = [...ids(partial.records), ...ids(rest.records)]
    assertUnique(all)
    assert.deepEqual(new Set(all), new Set(created))
  })
})

describe('typed errors', () => {
  test('each fault maps to its typed error with the provider wait', async () => {
    const { ctx, accountId } = await connect()
    const fault = (plan: Record<string, unknown>) => control('/_sim/faults', 'POST', { times: 1, account: accountId, ...plan })

    await fault({ kind: 'rate_limit', retryAfterSeconds: 7 })
    await assert.rejects(adapter.verifyCredentials(ctx), (error: unknown) => {
      assert.ok(error instanceof ProviderRateLimitedError)
      assert.deepEqual([error.retryAfterMs, error.status, error.providerCode], [7000, 429, 'RATE_LIMITED'])
      return true
    })

    await fault({ kind: 'server_error' })
    await assert.rejects(run(ctx, 'payment', { mode: 'full', cursor: null }), (error: unknown) => {
      assert.ok(error instanceof ProviderUnavailableError)
      assert.deepEqual([error.status, error.providerCode], [500, 'INTERNAL_SERVER_ERROR'])
      return true
    })

    await fault({ kind: 'reset' })
    await assert.rejects(adapter.verifyCredentials(ctx), (error: unknown) => error instanceof ProviderUnavailableError && error.status === undefined)

    await fault({ kind: 'expired_token' })
    await assert.rejects(run(ctx, 'customer', { mode: 'full', cursor: null }), (error: unknown) => {
      assert.ok(error instanceof ProviderAuthError)
      assert.deepEqual([error.status, error.providerCode], [401, 'ACCESS_TOKEN_EXPIRED'])
      return true
    })

    await fault({ kind: 'slow', delayMs: 1_500 })
    const impatient = createSquareAdapter({ timeoutSeconds: 0.5 })
    await assert.rejects(impatient.verifyCredentials(ctx), ProviderUnavailableError)

    assert.equal(await adapter.fetchOne(ctx, 'customer', 'NOSUCHCUSTOMER0000000000000'), null)
    assert.equal(await adapter.fetchOne(ctx, 'product', 'NOSUCHITEM00000000000000'), null)

    // A Square cursor Square refuses is an invalid request.
    const first = await run(ctx, 'customer', { mode: 'full', cursor: null, pageSize: 10 }, async () => true)
    const state = JSON.parse(Buffer.from(first.cursor, 'base64url').toString('utf8')) as Record<string, unknown>
    const forged = Buffer.from(JSON.stringify({ ...state, page: 'forged' })).toString('base64url')
    await assert.rejects(run(ctx, 'customer', { mode: 'full', cursor: forged }), (error: unknown) => {
      assert.ok(error instanceof ProviderInvalidError)
      assert.deepEqual([error.status, error.providerCode], [400, 'INVALID_CURSOR'])
      return true
    })
    await assert.rejects(run(ctx, 'invoice', { mode: 'full', cursor: null }), ProviderInvalidError)
    await assert.rejects(run(ctx, 'product', { mode: 'full', cursor: first.cursor }), ProviderInvalidError)
  })

  test('fetchOne returns the mapped record; an aborted call rejects with the abort reason', async () => {
    const { ctx } = await connect()
    const [customer] = (await run(ctx, 'customer', { mode: 'full', cursor: null, pageSize: 1 }, async () => true)).records
    assert.ok(customer)
    const fetched = await adapter.fetchOne(ctx, 'customer', customer.externalId)
    assert.deepEqual(fetched?.data, customer.data)
    const controller = new AbortController()
    controller.abort(new Error('sync cancelled'))
    await assert.rejects(adapter.verifyCredentials({ ...ctx, signal: controller.signal }), /sync cancelled/)
  })
})

describe('webhooks', () => {
  let receiver: Server
  let receiverUrl: string
  const received: Array<{ headers: IncomingHttpHeaders; body: Buffer }> = []

  before(async () => {
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        received.push({ headers: request.headers, body: Buffer.concat(chunks) })
        response.writeHead(200).end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhooks/square/conn-42`
  })

  after(async () => {
    await new Promise<void>((resolve) => receiver.close(() => resolve()))
  })

  test('register, receive, verify with the adapter and the SDK helper, refuse tampering, remove', async () => {
    const { ctx, accountId } = await connect()
    const registration = await adapter.registerWebhook(ctx, receiverUrl)
    assert.match(registration.endpointId, /^wbhk_/)
    assert.ok(registration.secret)
    const secret = registration.secret
    const listed = await control<{ subscriptions: Array<{ id: string; notification_url: string }> }>('/_sim/webhooks')
    assert.ok(listed.subscriptions.some((entry) => entry.id === registration.endpointId && entry.notification_url === receiverUrl))

    const [customer] = (await run(ctx, 'customer', { mode: 'full', cursor: null, pageSize: 1 }, async () => true)).records
    assert.ok(customer)
    const fired = await control<{ event: { event_id: string }; deliveries: Array<{ status: number }> }>('/_sim/webhooks/fire', 'POST', {
      accountId,
      type: 'customer.updated',
      objectId: customer.externalId,
    })
    assert.deepEqual(
      fired.deliveries.map((delivery) => delivery.status),
      [200],
    )
    const delivery = received.find((entry) => entry.body.toString('utf8').includes(fired.event.event_id))
    assert.ok(delivery)
    const input = { rawBody: delivery.body, headers: delivery.headers, url: receiverUrl, secret }

    const [event] = adapter.verifyWebhook(input)
    assert.deepEqual(
      { eventId: event?.eventId, type: event?.type, entity: event?.entity, externalId: event?.externalId, accountId: event?.accountId },
      { eventId: fired.event.event_id, type: 'customer.updated', entity: 'customer', externalId: customer.externalId, accountId },
    )
    // The event carries the whole customer: the same record the provider answers, dated by its updated_at.
    const snapshot = adapter.recordFromEvent?.(event?.raw)
    const current = await adapter.fetchOne(ctx, 'customer', customer.externalId)
    assert.deepEqual(snapshot?.record?.data, current?.data)
    assert.deepEqual([snapshot?.entity, snapshot?.externalId, snapshot?.version, snapshot?.precisionMs], ['customer', customer.externalId, new Date(current?.updatedAt as string).toISOString(), 1])
    const signatureHeader = String(delivery.headers['x-square-hmacsha256-signature'])
    assert.equal(await WebhooksHelper.verifySignature({ requestBody: delivery.body.toString('utf8'), signatureHeader, signatureKey: secret, notificationUrl: receiverUrl }), true)

    const tampered = Buffer.from(delivery.body.toString('utf8').replace('customer.updated', 'customer.deleted'))
    const refuse = (changes: Partial<typeof input>, reason: WebhookVerificationError['reason']) =>
      assert.throws(
        () => adapter.verifyWebhook({ ...input, ...changes }),
        (error: unknown) => error instanceof WebhookVerificationError && error.reason === reason,
      )
    refuse({ rawBody: tampered }, 'bad_signature')
    assert.equal(await WebhooksHelper.verifySignature({ requestBody: tampered.toString('utf8'), signatureHeader, signatureKey: secret, notificationUrl: receiverUrl }), false)
    refuse({ url: `${receiverUrl}?x=1` }, 'bad_signature')
    refuse({ secret: 'someone-elses-signature-key' }, 'bad_signature')
    refuse({ headers: { 'content-type': 'application/json' } }, 'missing_signature')

    // Correctly signed but replayed long after Square's retry horizon.
    const stale = Buffer.from(JSON.stringify({ ...JSON.parse(delivery.body.toString('utf8')), created_at: new Date(Date.now() - 3 * 86_400_000).toISOString() }))
    const staleSignature = createHmac('sha256', secret).update(receiverUrl).update(stale).digest('base64')
    refuse({ rawBody: stale, headers: { 'x-square-hmacsha256-signature': staleSignature } }, 'stale')
    assert.equal(await WebhooksHelper.verifySignature({ requestBody: stale.toString('utf8'), signatureHeader: staleSignature, signatureKey: secret, notificationUrl: receiverUrl }), true)
    const garbage = Buffer.from('not json')
    refuse({ rawBody: garbage, headers: { 'x-square-hmacsha256-signature': createHmac('sha256', secret).update(receiverUrl).update(garbage).digest('base64') } }, 'malformed')

    await adapter.removeWebhook(ctx, registration.endpointId)
    const remaining = await control<{ subscriptions: Array<{ id: string }> }>('/_sim/webhooks')
    assert.ok(!remaining.subscriptions.some((entry) => entry.id === registration.endpointId))
    await adapter.removeWebhook(ctx, registration.endpointId)
  })
})

describe('oauth', () => {
  const redirectUri = 'https://hub.example.com/oauth/square/callback'
  const oauth = ((): NonNullable<ProviderAdapter['oauth']> => {
    assert.ok(adapter.oauth)
    return adapter.oauth
  })()

  async function authorizeCode(codeChallenge?: string): Promise<string> {
    const url = new URL(oauth.authorizeUrl({ authBaseUrl: base, clientId: CLIENT_ID, redirectUri, state: 'st-9', ...(codeChallenge ? { codeChallenge } : {}) }))
    assert.equal(url.pathname, '/oauth2/authorize')
    assert.equal(url.searchParams.get('scope'), 'MERCHANT_PROFILE_READ CUSTOMERS_READ PAYMENTS_READ ITEMS_READ')
    const response = await fetch(url, { redirect: 'manual' })
    assert.equal(response.status, 302)
    const location = new URL(response.headers.get('location') as string)
    assert.equal(location.searchParams.get('state'), 'st-9')
    return location.searchParams.get('code') as string
  }

  test('PKCE code exchange, use, refresh, expiry and revoke', async () => {
    const verifier = randomBytes(32).toString('base64url')
    const challenge = createHash('sha256').update(verifier).digest('base64url')

    const badCode = await authorizeCode(challenge)
    await assert.rejects(oauth.exchangeCode({ authBaseUrl: base, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, code: badCode, redirectUri, codeVerifier: randomBytes(32).toString('base64url') }), ProviderAuthError)

    const code = await authorizeCode(challenge)
    const tokens = await oauth.exchangeCode({ authBaseUrl: base, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, code, redirectUri, codeVerifier: verifier })
    assert.match(tokens.accessToken, /^EAAA/)
    assert.match(tokens.refreshToken ?? '', /^EQAA/)
    assert.ok(Date.parse(tokens.expiresAt ?? '') > Date.now() + 29 * 86_400_000)
    const ctx: ProviderContext = { credentials: { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken ?? undefined }, baseUrl: base }
    assert.equal((await adapter.verifyCredentials(ctx)).accountId, tokens.accountId)
    assert.equal((await run(ctx, 'customer', { mode: 'full', cursor: null })).records.length, 300)

    await control('/_sim/oauth/config', 'POST', { accessTokenTtlSeconds: 0 })
    let refreshed
    try {
      refreshed = await oauth.refresh({ authBaseUrl: base, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, refreshToken: tokens.refreshToken as string })
    } finally {
      await control('/_sim/oauth/config', 'POST', { accessTokenTtlSeconds: 30 * 86_400 })
    }
    assert.equal(refreshed.accountId, tokens.accountId)
    await assert.rejects(adapter.verifyCredentials({ credentials: { accessToken: refreshed.accessToken }, baseUrl: base }), (error: unknown) => error instanceof ProviderAuthError && error.providerCode === 'ACCESS_TOKEN_EXPIRED')
    // PKCE refresh tokens rotate: the first one is spent.
    await assert.rejects(oauth.refresh({ authBaseUrl: base, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, refreshToken: tokens.refreshToken as string }), ProviderAuthError)
    const fresh = await oauth.refresh({ authBaseUrl: base, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, refreshToken: refreshed.refreshToken as string })
    assert.equal((await adapter.verifyCredentials({ credentials: { accessToken: fresh.accessToken }, baseUrl: base })).accountId, tokens.accountId)

    await oauth.revoke({ authBaseUrl: base, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, token: fresh.accessToken })
    await assert.rejects(adapter.verifyCredentials({ credentials: { accessToken: fresh.accessToken }, baseUrl: base }), (error: unknown) => error instanceof ProviderAuthError && error.providerCode === 'ACCESS_TOKEN_REVOKED')
    await assert.rejects(oauth.revoke({ authBaseUrl: base, clientId: CLIENT_ID, clientSecret: 'sq0csp-wrongsecret00000000000', token: tokens.accessToken }), ProviderAuthError)
  })

  test('the code flow without PKCE uses the client secret', async () => {
    const code = await authorizeCode()
    const tokens = await oauth.exchangeCode({ authBaseUrl: base, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, code, redirectUri })
    assert.equal((await adapter.verifyCredentials({ credentials: { accessToken: tokens.accessToken }, baseUrl: base })).accountId, tokens.accountId)
    const again = await authorizeCode()
    await assert.rejects(oauth.exchangeCode({ authBaseUrl: base, clientId: CLIENT_ID, clientSecret: 'sq0csp-wrongsecret00000000000', code: again, redirectUri }), ProviderAuthError)
  })
})
