// The Stripe adapter through the official SDK against the Stripe simulator on a random port.
import assert from 'node:assert/strict'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import { after, before, describe, test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import Stripe from 'stripe'
import { createStripeSimulator } from '../../../../packages/provider-simulators/src/stripe/index.ts'
import type { EntityName } from '../../src/providers/canonical.ts'
import type { ChangePage, ListOptions, ProviderAdapter, ProviderContext } from '../../src/providers/provider-adapter.ts'
import { ProviderAuthError, ProviderInvalidError, ProviderNotFoundError, ProviderRateLimitedError, ProviderUnavailableError, WebhookVerificationError } from '../../src/providers/provider-errors.ts'
import { createStripeAdapter, decodeStripeCursor, toStripeProviderError } from '../../src/providers/stripe/index.ts'

let sim: FastifyInstance
let base: string
let adapter: ProviderAdapter
let keyCounter = 0

function newKey(): string {
  keyCounter += 1
  return `sk_test_${'A'.repeat(20)}${String(keyCounter).padStart(6, '0')}`
}

function ctxFor(apiKey: string): ProviderContext {
  return { baseUrl: base, credentials: { apiKey } }
}

async function control(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const json = (await response.json()) as Record<string, unknown>
  assert.ok(response.status < 300, `${method} ${path}: ${response.status} ${JSON.stringify(json)}`)
  return json
}

async function accountOf(key: string): Promise<string> {
  return (await control('GET', `/_sim/accounts/lookup?credential=${encodeURIComponent(key)}`)).accountId as string
}

async function liveIds(accountId: string, entity: string): Promise<string[]> {
  return (await control('GET', `/_sim/accounts/${accountId}/${entity}`)).ids as string[]
}

async function collect<E extends EntityName>(ctx: ProviderContext, entity: E, options: ListOptions): Promise<Array<ChangePage<E>>> {
  const pages: Array<ChangePage<E>> = []
  for await (const page of adapter.listChanges(ctx, entity, options)) pages.push(page)
  return pages
}

function flat<E extends EntityName>(pages: Array<ChangePage<E>>): { ids: string[]; deleted: string[]; last: ChangePage<E> } {
  return { ids: pages.flatMap((p) => p.records.map((r) => r.externalId)), deleted: pages.flatMap((p) => p.deletedIds), last: pages[pages.length - 1] as ChangePage<E> }
}

function sorted(values: Iterable<string>): string[] {
  return [...values].sort()
}

async function rejectsWith<T extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof type, `expected ${type.name}, got ${(error as Error)?.name}: ${(error as Error)?.message}`)
    return error
  }
  assert.fail(`expected ${type.name}`)
}

before(async () => {
  sim = createStripeSimulator({ seed: 'stripe-adapter-test', recordsPerEntity: 300 })
  await sim.listen({ port: 0, host: '127.0.0.1' })
  base = `http://127.0.0.1:${(sim.server.address() as { port: number }).port}`
  adapter = createStripeAdapter({ timeoutMs: 5_000 })
})

after(async () => {
  await sim.close()
})

describe('credentials', () => {
  test('good key opens its account; malformed and revoked keys are auth errors', async () => {
    const key = newKey()
    const info = await adapter.verifyCredentials(ctxFor(key))
    assert.equal(info.accountId, await accountOf(key))
    assert.equal(typeof info.name, 'string')
    assert.ok(adapter.auth.type === 'api_key' && adapter.auth.keyPattern.test(key))

    const malformed = await rejectsWith(adapter.verifyCredentials(ctxFor('sk_test_short')), ProviderAuthError)
    assert.equal(malformed.status, 401)
    assert.match(malformed.message, /Invalid API Key provided: sk_test_\*/)

    await control('POST', '/_sim/credentials/revoke', { credential: key })
    const revoked = await rejectsWith(adapter.verifyCredentials(ctxFor(key)), ProviderAuthError)
    assert.equal(revoked.providerCode, 'api_key_expired')
    await rejectsWith(adapter.verifyCredentials({ baseUrl: base, credentials: {} }), ProviderAuthError)
  })
})

describe('full and incremental listing', () => {
  test('thousands of customers, changed and deleted during the walk, then exactly those changes', async () => {
    const key = newKey()
    const ctx = ctxFor(key)
    const accountId = await accountOf(key)
    await control('POST', `/_sim/accounts/${accountId}/seed`, { entity: 'customer', count: 3000 })
    const initial = await liveIds(accountId, 'customer')
    assert.equal(initial.length, 3000)

    const walked: string[] = []
    const names = new Map<string, string | null>()
    const deletedUnseen: string[] = []
    const deletedSeen: string[] = []
    const changed: string[] = []
    const createdIds: string[] = []
    let pageCount = 0
    let final: ChangePage<'customer'> | undefined
    for await (const page of adapter.listChanges(ctx, 'customer', { mode: 'full', cursor: null, pageSize: 100 })) {
      pageCount += 1
      for (const record of page.records) {
        walked.push(record.externalId)
        names.set(record.externalId, record.data.givenName)
        assert.deepEqual(record.raw && typeof record.raw === 'object' ? (record.raw as { id: string }).id : null, record.externalId)
      }
      assert.deepEqual(page.deletedIds, [])
      final = page
      if (pageCount === 5) {
        const seen = new Set(walked)
        const unseen = initial.filter((id) => !seen.has(id))
        // The object the walk's cursor sits on, deleted: the next page must still follow on.
        const cursorId = walked[walked.length - 1] as string
        deletedSeen.push(cursorId, ...walked.slice(0, 9))
        deletedUnseen.push(...unseen.slice(100, 110))
        changed.push(...walked.slice(20, 30), ...unseen.slice(300, 310))
        for (const id of [...deletedSeen, ...deletedUnseen]) await control('DELETE', `/_sim/accounts/${accountId}/customer/${id}`)
        for (const id of changed) await control('PATCH', `/_sim/accounts/${accountId}/customer/${id}`, { name: `Renamed ${id.slice(-4)}` })
        createdIds.push(...((await control('POST', `/_sim/accounts/${accountId}/customer`, { count: 15 })).ids as string[]))
      }
    }
    assert.ok(final && !final.hasMore)
    assert.equal(new Set(walked).size, walked.length, 'no record repeated')
    const expected = initial.filter((id) => !deletedUnseen.includes(id))
    assert.deepEqual(sorted(walked), sorted(expected), 'every record present at the start and not deleted before it was reached')
    for (const id of changed.slice(10)) assert.equal(names.get(id), 'Renamed', 'records changed ahead of the walk arrive changed')

    const incremental = await collect(ctx, 'customer', { mode: 'incremental', cursor: (final as ChangePage<'customer'>).cursor, pageSize: 100 })
    const inc = flat(incremental)
    assert.deepEqual(sorted(inc.ids), sorted([...createdIds, ...changed]))
    assert.equal(new Set(inc.ids).size, inc.ids.length)
    assert.deepEqual(sorted(inc.deleted), sorted([...deletedSeen, ...deletedUnseen]))
    for (const record of incremental.flatMap((p) => p.records)) {
      if (changed.includes(record.externalId)) assert.equal(record.data.givenName, 'Renamed')
      assert.ok(record.updatedAt, 'incremental records carry the event time')
    }

    const again = flat(await collect(ctx, 'customer', { mode: 'incremental', cursor: inc.last.cursor }))
    assert.deepEqual([again.ids, again.deleted, again.last.hasMore], [[], [], false])
  })

  test('products: a deleted cursor object, reprices and deletions', async () => {
    const key = newKey()
    const ctx = ctxFor(key)
    const accountId = await accountOf(key)
    await control('POST', `/_sim/accounts/${accountId}/seed`, { entity: 'product', count: 2500 })
    const initial = await liveIds(accountId, 'product')
    const walked: string[] = []
    const deleted: string[] = []
    let repriced = ''
    let final: ChangePage<'product'> | undefined
    let pageCount = 0
    for await (const page of adapter.listChanges(ctx, 'product', { mode: 'full', cursor: null, pageSize: 100 })) {
      pageCount += 1
      walked.push(...page.records.map((r) => r.externalId))
      final = page
      if (pageCount === 3) {
        // Deleted products vanish entirely (no stub), so the walk cannot continue from this one.
        const cursorId = walked[walked.length - 1] as string
        const ahead = initial[1000] as string
        deleted.push(cursorId, ahead)
        for (const id of deleted) await control('DELETE', `/_sim/accounts/${accountId}/product/${id}`)
        repriced = initial[2000] as string
        await control('PATCH', `/_sim/accounts/${accountId}/product/${repriced}`, { unit_amount: 12345 })
      }
    }
    assert.equal(new Set(walked).size, walked.length)
    assert.deepEqual(sorted(walked), sorted(initial.filter((id) => id !== deleted[1])))
    const withPrice = (final as ChangePage<'product'>).records.find((r) => r.data.unitAmount !== null)
    assert.ok(withPrice && /^[A-Z]{3}$/.test(withPrice.data.currency ?? ''))

    const inc = flat(await collect(ctx, 'product', { mode: 'incremental', cursor: (final as ChangePage<'product'>).cursor }))
    assert.deepEqual(inc.ids, [repriced])
    assert.deepEqual(sorted(inc.deleted), sorted(deleted))
    const record = (await collect(ctx, 'product', { mode: 'incremental', cursor: (final as ChangePage<'product'>).cursor }))[0]?.records[0]
    assert.equal(record?.data.unitAmount, 12345)
    assert.equal(record?.data.currency, 'USD')
  })

  test('payments: new charges and a refund arrive once, in their latest state', async () => {
    const key = newKey()
    const ctx = ctxFor(key)
    const accountId = await accountOf(key)
    // An older event, so this run's watermark anchors on an event (the `ending_before` path).
    await control('POST', `/_sim/accounts/${accountId}/customer`, { count: 1 })
    const full = flat(await collect(ctx, 'payment', { mode: 'full', cursor: null }))
    assert.deepEqual(sorted(full.ids), sorted(await liveIds(accountId, 'payment')))
    assert.equal(full.ids.length, 300)
    assert.notEqual(decodeStripeCursor(full.last.cursor, 'payment').wm.anchor, null)

    const created = (await control('POST', `/_sim/accounts/${accountId}/payment`, { count: 5 })).ids as string[]
    await control('DELETE', `/_sim/accounts/${accountId}/payment/${created[0]}`)
    const seeded = full.ids[10] as string
    await control('PATCH', `/_sim/accounts/${accountId}/payment/${seeded}`, { description: 'Moved to row F' })
    const pages = await collect(ctx, 'payment', { mode: 'incremental', cursor: full.last.cursor })
    const inc = flat(pages)
    assert.deepEqual(sorted(inc.ids), sorted([...created, seeded]))
    const records = new Map(pages.flatMap((p) => p.records).map((r) => [r.externalId, r]))
    assert.equal(records.get(created[0] as string)?.data.status, 'refunded')
    assert.equal(records.get(created[1] as string)?.data.status, 'succeeded')
    assert.equal((records.get(seeded)?.raw as { description: string }).description, 'Moved to row F')
    const sample = records.get(created[1] as string)
    assert.ok(sample && Number.isInteger(sample.data.amount) && sample.data.currency === 'USD')
    assert.deepEqual(inc.deleted, [])
  })

  test('resume a full walk and an incremental run from mid-run checkpoints', async () => {
    const key = newKey()
    const ctx = ctxFor(key)
    const accountId = await accountOf(key)
    const all = await liveIds(accountId, 'customer')

    const firstPart: string[] = []
    let checkpoint = ''
    for await (const page of adapter.listChanges(ctx, 'customer', { mode: 'full', cursor: null, pageSize: 40 })) {
      firstPart.push(...page.records.map((r) => r.externalId))
      checkpoint = page.cursor
      if (firstPart.length >= 80) break
    }
    assert.equal(decodeStripeCursor(checkpoint, 'customer').phase, 'full')
    const rest = await collect(ctx, 'customer', { mode: 'full', cursor: checkpoint, pageSize: 40 })
    const resumed = [...firstPart, ...flat(rest).ids]
    assert.equal(new Set(resumed).size, resumed.length)
    assert.deepEqual(sorted(resumed), sorted(all))
    const done = flat(rest).last.cursor

    const createdIds = (await control('POST', `/_sim/accounts/${accountId}/customer`, { count: 250 })).ids as string[]
    const incFirst: string[] = []
    let incCheckpoint = ''
    for await (const page of adapter.listChanges(ctx, 'customer', { mode: 'incremental', cursor: done, pageSize: 100 })) {
      incFirst.push(...page.records.map((r) => r.externalId))
      incCheckpoint = page.cursor
      assert.equal(page.hasMore, true)
      break
    }
    assert.equal(incFirst.length, 100)
    const incRest = flat(await collect(ctx, 'customer', { mode: 'incremental', cursor: incCheckpoint, pageSize: 100 }))
    assert.deepEqual(sorted([...incFirst, ...incRest.ids]), sorted(createdIds))
    assert.equal(incRest.ids.length, 150)

    // A null cursor in incremental mode means a full listing.
    assert.equal(flat(await collect(ctx, 'customer', { mode: 'incremental', cursor: null })).ids.length, 550)
    await rejectsWith(collect(ctx, 'customer', { mode: 'incremental', cursor: 'not-a-cursor' }), ProviderInvalidError)
    await rejectsWith(collect(ctx, 'product', { mode: 'incremental', cursor: done }), ProviderInvalidError)
    await rejectsWith(collect(ctx, 'invoice', { mode: 'full', cursor: null }), ProviderInvalidError)
  })

  test('two connections sync at once, each with its own client', async () => {
    const [a, b] = [newKey(), newKey()]
    const [pagesA, pagesB] = await Promise.all([collect(ctxFor(a), 'customer', { mode: 'full', cursor: null, pageSize: 50 }), collect(ctxFor(b), 'customer', { mode: 'full', cursor: null, pageSize: 50 })])
    assert.deepEqual(sorted(flat(pagesA).ids), sorted(await liveIds(await accountOf(a), 'customer')))
    assert.deepEqual(sorted(flat(pagesB).ids), sorted(await liveIds(await accountOf(b), 'customer')))
    assert.equal(flat(pagesA).ids.filter((id) => flat(pagesB).ids.includes(id)).length, 0)
  })

  test('fetchOne maps the current record, null when deleted or missing', async () => {
    const key = newKey()
    const ctx = ctxFor(key)
    const accountId = await accountOf(key)
    const customerId = (await liveIds(accountId, 'customer'))[0] as string
    const customer = await adapter.fetchOne(ctx, 'customer', customerId)
    assert.equal(customer?.externalId, customerId)
    assert.match(customer?.data.email ?? '', /@example\.com$/)
    await control('PATCH', `/_sim/accounts/${accountId}/customer/${customerId}`, { name: 'Ada Byron Lovelace', business_name: 'Analytical Engines Ltd' })
    const renamed = await adapter.fetchOne(ctx, 'customer', customerId)
    assert.deepEqual([renamed?.data.givenName, renamed?.data.familyName, renamed?.data.companyName], ['Ada', 'Byron Lovelace', 'Analytical Engines Ltd'])
    await control('DELETE', `/_sim/accounts/${accountId}/customer/${customerId}`)
    assert.equal(await adapter.fetchOne(ctx, 'customer', customerId), null)
    assert.equal(await adapter.fetchOne(ctx, 'product', 'prod_missing000000'), null)
    const chargeId = (await liveIds(accountId, 'payment'))[0] as string
    assert.equal((await adapter.fetchOne(ctx, 'payment', chargeId))?.externalId, chargeId)
  })
})

describe('faults as typed errors', () => {
  test('rate limit with and without Retry-After, 5xx, expired token, reset, timeout', async () => {
    const key = newKey()
    const ctx = ctxFor(key)
    const account = await accountOf(key)
    const list = (): Promise<unknown> => collect(ctx, 'customer', { mode: 'full', cursor: null })

    await control('POST', '/_sim/faults', { kind: 'rate_limit', account, times: 1, retryAfterSeconds: 7 })
    const limited = await rejectsWith(list(), ProviderRateLimitedError)
    assert.equal(limited.retryAfterMs, 7000)
    assert.equal(limited.status, 429)
    assert.equal(limited.providerCode, 'rate_limit')

    await control('POST', '/_sim/faults', { kind: 'rate_limit', account, times: 1 })
    assert.equal((await rejectsWith(list(), ProviderRateLimitedError)).retryAfterMs, 1000)

    await control('POST', '/_sim/faults', { kind: 'server_error', account, times: 1 })
    assert.equal((await rejectsWith(adapter.verifyCredentials(ctx), ProviderUnavailableError)).status, 500)

    await control('POST', '/_sim/faults', { kind: 'expired_token', account, times: 1 })
    assert.equal((await rejectsWith(adapter.verifyCredentials(ctx), ProviderAuthError)).providerCode, 'api_key_expired')

    // stripe-node retries a closed connection once even with maxNetworkRetries 0; two resets fail the call.
    const servedBefore = ((await control('GET', '/_sim/faults/served')).served as unknown[]).length
    await control('POST', '/_sim/faults', { kind: 'reset', account, times: 2 })
    await rejectsWith(adapter.verifyCredentials(ctx), ProviderUnavailableError)
    assert.equal(((await control('GET', '/_sim/faults/served')).served as unknown[]).length - servedBefore, 2)

    const impatient = createStripeAdapter({ timeoutMs: 200 })
    await control('POST', '/_sim/faults', { kind: 'slow', account, times: 1, delayMs: 600 })
    const timedOut = await rejectsWith(impatient.verifyCredentials(ctx), ProviderUnavailableError)
    assert.match(timedOut.message, /timeout/i)

    assert.ok(await adapter.verifyCredentials(ctx))
  })

  test('not found and invalid requests from the SDK', async () => {
    const key = newKey()
    const stripe = new Stripe(key, { host: '127.0.0.1', port: new URL(base).port, protocol: 'http', maxNetworkRetries: 0 })
    const missing = await stripe.customers.retrieve('cus_nothing0000000').catch((error: unknown) => error)
    assert.ok(toStripeProviderError(missing) instanceof ProviderNotFoundError)
    const invalid = await stripe.customers.create({ email: 'not-an-email' }).catch((error: unknown) => error)
    const mapped = toStripeProviderError(invalid)
    assert.ok(mapped instanceof ProviderInvalidError)
    assert.equal(mapped.providerCode, 'email_invalid')
    const other = await accountOf(newKey())
    await rejectsWith(adapter.verifyCredentials({ baseUrl: base, credentials: { apiKey: key, accountId: other } }), ProviderAuthError)
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
    receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/webhooks/stripe`
  })

  after(async () => {
    await new Promise<void>((resolve) => receiver.close(() => resolve()))
  })

  test('register, verify (adapter and stripe.webhooks.constructEvent), refuse tampered and stale, remove', async () => {
    const key = newKey()
    const ctx = ctxFor(key)
    const accountId = await accountOf(key)
    const registration = await adapter.registerWebhook(ctx, receiverUrl)
    assert.match(registration.endpointId, /^we_/)
    assert.match(registration.secret ?? '', /^whsec_/)
    const secret = registration.secret as string

    const customerId = (await liveIds(accountId, 'customer'))[0] as string
    received.length = 0
    const fired = await control('POST', '/_sim/webhooks/fire', { accountId, type: 'customer.updated', objectId: customerId })
    const firedEvent = fired.event as { id: string }
    assert.equal(received.length, 1)
    const delivery = received[0] as { headers: IncomingHttpHeaders; body: Buffer }

    const [event] = adapter.verifyWebhook({ rawBody: delivery.body, headers: delivery.headers, url: receiverUrl, secret })
    assert.deepEqual(
      { eventId: event?.eventId, type: event?.type, entity: event?.entity, externalId: event?.externalId, accountId: event?.accountId },
      { eventId: firedEvent.id, type: 'customer.updated', entity: 'customer', externalId: customerId, accountId: null },
    )
    assert.ok(event?.occurredAt)
    // The event carries the whole customer: the same record the provider answers, dated by the event.
    const snapshot = adapter.recordFromEvent?.(event?.raw)
    assert.deepEqual(snapshot?.record?.data, (await adapter.fetchOne(ctx, 'customer', customerId))?.data)
    assert.deepEqual([snapshot?.entity, snapshot?.externalId, snapshot?.version, snapshot?.precisionMs], ['customer', customerId, event?.occurredAt, 1_000])
    const sdkEvent = Stripe.webhooks.constructEvent(delivery.body, delivery.headers['stripe-signature'] as string, secret)
    assert.equal(sdkEvent.id, firedEvent.id)
    assert.equal(sdkEvent.type, 'customer.updated')
    assert.equal(sdkEvent.api_version, Stripe.API_VERSION, 'rendered at the version the endpoint was registered with')

    const tampered = Buffer.from(delivery.body.toString('utf8').replace(customerId, 'cus_someoneelse00'))
    assert.equal(
      (() => {
        try {
          adapter.verifyWebhook({ rawBody: tampered, headers: delivery.headers, url: receiverUrl, secret })
        } catch (error) {
          return (error as WebhookVerificationError).reason
        }
      })(),
      'bad_signature',
    )
    assert.throws(() => Stripe.webhooks.constructEvent(tampered, delivery.headers['stripe-signature'] as string, secret), /No signatures found/)
    assert.throws(() => adapter.verifyWebhook({ rawBody: delivery.body, headers: delivery.headers, url: receiverUrl, secret: 'whsec_wrong' }), WebhookVerificationError)
    assert.throws(
      () => adapter.verifyWebhook({ rawBody: delivery.body, headers: {}, url: receiverUrl, secret }),
      (error: WebhookVerificationError) => error.reason === 'missing_signature',
    )

    received.length = 0
    await control('POST', '/_sim/webhooks/fire', { accountId, type: 'customer.created', timestamp: Math.floor(Date.now() / 1000) - 600 })
    const stale = received[0] as { headers: IncomingHttpHeaders; body: Buffer }
    assert.throws(
      () => adapter.verifyWebhook({ rawBody: stale.body, headers: stale.headers, url: receiverUrl, secret }),
      (error: WebhookVerificationError) => error.reason === 'stale',
    )
    assert.throws(() => Stripe.webhooks.constructEvent(stale.body, stale.headers['stripe-signature'] as string, secret), /Timestamp outside the tolerance zone/)
    assert.equal(adapter.verifyWebhook({ rawBody: stale.body, headers: stale.headers, url: receiverUrl, secret, toleranceSeconds: 900 }).length, 1)

    received.length = 0
    const charge = (await liveIds(accountId, 'payment'))[0] as string
    await control('POST', '/_sim/webhooks/fire', { accountId, type: 'charge.refunded', objectId: charge })
    const [chargeEvent] = adapter.verifyWebhook({ rawBody: (received[0] as { body: Buffer }).body, headers: (received[0] as { headers: IncomingHttpHeaders }).headers, url: receiverUrl, secret })
    assert.deepEqual([chargeEvent?.entity, chargeEvent?.externalId], ['payment', charge])
    assert.deepEqual(adapter.recordFromEvent?.(chargeEvent?.raw)?.record?.data, (await adapter.fetchOne(ctx, 'payment', charge))?.data)
    // A price event names its product without carrying it: thin.
    assert.equal(adapter.recordFromEvent?.({ object: 'event', type: 'price.updated', created: 1_700_000_000, data: { object: { id: 'price_1', object: 'price', product: 'prod_1' } } }), null)

    await adapter.removeWebhook(ctx, registration.endpointId)
    const endpoints = (await control('GET', '/_sim/webhooks')).endpoints as Array<{ id: string }>
    assert.ok(!endpoints.some((e) => e.id === registration.endpointId))
    await adapter.removeWebhook(ctx, registration.endpointId)
  })
})

describe('Connect OAuth', () => {
  test('authorize, exchange, act as the account, refresh, revoke', async () => {
    const oauth = adapter.oauth
    assert.ok(oauth)
    const platformKey = newKey()
    const clientId = `ca_${'H'.repeat(32)}`
    const url = oauth.authorizeUrl({ authBaseUrl: base, clientId, redirectUri: 'https://hub.example/oauth/stripe', state: 'st-1' })
    const redirect = await fetch(url, { redirect: 'manual' })
    const location = new URL(redirect.headers.get('location') as string)
    assert.equal(location.searchParams.get('state'), 'st-1')
    const code = location.searchParams.get('code') as string

    const tokens = await oauth.exchangeCode({ authBaseUrl: base, clientId, clientSecret: platformKey, code, redirectUri: 'https://hub.example/oauth/stripe' })
    assert.match(tokens.accessToken, /^sk_test_/)
    assert.match(tokens.refreshToken ?? '', /^rt_/)
    assert.match(tokens.accountId ?? '', /^acct_/)
    assert.equal(tokens.expiresAt, null)
    assert.equal(tokens.scope, 'read_write')

    const asAccount = await adapter.verifyCredentials({ baseUrl: base, credentials: { accessToken: tokens.accessToken, accountId: tokens.accountId } })
    assert.equal(asAccount.accountId, tokens.accountId)
    const viaPlatform: ProviderContext = { baseUrl: base, credentials: { apiKey: platformKey, accountId: tokens.accountId } }
    assert.equal((await adapter.verifyCredentials(viaPlatform)).accountId, tokens.accountId)
    const listed = flat(await collect(viaPlatform, 'customer', { mode: 'full', cursor: null }))
    assert.deepEqual(sorted(listed.ids), sorted(await liveIds(tokens.accountId as string, 'customer')))

    const refreshed = await oauth.refresh({ authBaseUrl: base, clientId, clientSecret: platformKey, refreshToken: tokens.refreshToken as string })
    assert.notEqual(refreshed.accessToken, tokens.accessToken)
    assert.equal(refreshed.accountId, tokens.accountId)

    await rejectsWith(oauth.exchangeCode({ authBaseUrl: base, clientId, clientSecret: platformKey, code: 'ac_bogus', redirectUri: 'x' }), ProviderAuthError)

    await oauth.revoke({ authBaseUrl: base, clientId, clientSecret: platformKey, token: refreshed.accessToken })
    await rejectsWith(adapter.verifyCredentials({ baseUrl: base, credentials: { accessToken: tokens.accessToken } }), ProviderAuthError)
    await rejectsWith(adapter.verifyCredentials(viaPlatform), ProviderAuthError)
    await rejectsWith(oauth.refresh({ authBaseUrl: base, clientId, clientSecret: platformKey, refreshToken: tokens.refreshToken as string }), ProviderAuthError)
    // Revoking again is a no-op: the token no longer opens anything.
    await oauth.revoke({ authBaseUrl: base, clientId, clientSecret: platformKey, token: refreshed.accessToken })
  })
})
