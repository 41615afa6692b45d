// The Mailchimp adapter through the official SDK against the local simulator.
import { createHash, randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRequire } from 'node:module'
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { createMailchimpSimulator } from '../../../../packages/provider-simulators/src/mailchimp/index.ts'
import { createMailchimpAdapter, createSdkClient, decodeCursor, resolveBasePath } from '../../src/providers/mailchimp/index.ts'
import type { ChangePage, ProviderAdapter, ProviderContext } from '../../src/providers/provider-adapter.ts'
import { ProviderAuthError, ProviderInvalidError, ProviderNotFoundError, ProviderRateLimitedError, ProviderUnavailableError, WebhookVerificationError } from '../../src/providers/provider-errors.ts'

const RATE_LIMIT_WAIT_MS = 1234

let sim: FastifyInstance
let base: string
const adapter = createMailchimpAdapter({ rateLimitWaitMs: RATE_LIMIT_WAIT_MS, timeoutMs: 5_000 })

const newKey = (dc = 'us21'): string => `${randomBytes(16).toString('hex')}-${dc}`
const ctxFor = (apiKey: string, baseUrl = base): ProviderContext => ({ baseUrl, credentials: { apiKey } })
const md5 = (email: string): string => createHash('md5').update(email.toLowerCase()).digest('hex')

async function control<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${base}/_sim${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  })
  assert.ok(response.status < 300, `${method} ${path} → ${response.status} ${await response.clone().text()}`)
  return response.status === 204 ? (undefined as T) : ((await response.json()) as T)
}

interface SimRecord {
  id: string
  listId: string
  subscriberHash: string
  email: string
  status: string
}

async function account(key: string, seed?: number): Promise<{ accountId: string; records: SimRecord[] }> {
  const { accountId } = await control<{ accountId: string }>('GET', `/accounts/lookup?credential=${key}`)
  if (seed !== undefined) await control('POST', `/accounts/${accountId}/seed`, { count: seed })
  const { records } = await control<{ records: SimRecord[] }>('GET', `/accounts/${accountId}/contact`)
  return { accountId, records }
}

const advance = (seconds: number): Promise<unknown> => control('POST', '/clock', { advanceSeconds: seconds })

async function collect(iterable: AsyncIterable<ChangePage<'contact'>>): Promise<Array<ChangePage<'contact'>>> {
  const pages: Array<ChangePage<'contact'>> = []
  for await (const page of iterable) pages.push(page)
  return pages
}

function ids(pages: Array<ChangePage<'contact'>>): { records: string[]; deleted: string[] } {
  return { records: pages.flatMap((page) => page.records.map((record) => record.externalId)), deleted: pages.flatMap((page) => page.deletedIds) }
}

async function rejectsWith<T extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof type, `expected ${type.name}, got ${(error as Error).name}: ${(error as Error).message}`)
    return error
  }
  assert.fail(`expected ${type.name}, but it resolved`)
}

/** A receiver for webhook registration (Mailchimp GETs the URL first) and deliveries. */
async function receiver(failGetNumber?: number): Promise<{ url: string; server: Server; hits: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: Buffer }> }> {
  const hits: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: Buffer }> = []
  let gets = 0
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      hits.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks) })
      if (request.method === 'GET') gets++
      response.statusCode = request.method === 'GET' && gets === failGetNumber ? 503 : 200
      response.end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, hits }
}

/** A path-prefix gateway, to put the word "server" in the base URL the SDK sees. */
async function prefixProxy(prefix: string): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const path = (request.url ?? '').startsWith(prefix) ? (request.url ?? '').slice(prefix.length) : '/not-proxied'
      const headers: Record<string, string> = {}
      for (const [name, value] of Object.entries(request.headers)) {
        if (typeof value === 'string' && !['host', 'connection', 'content-length', 'accept-encoding'].includes(name)) headers[name] = value
      }
      const body = chunks.length ? Buffer.concat(chunks) : null
      fetch(`${base}${path}`, { method: request.method ?? 'GET', headers, ...(body && body.length ? { body } : {}) })
        .then(async (upstream) => {
          response.statusCode = upstream.status
          upstream.headers.forEach((value, name) => {
            if (!['content-length', 'content-encoding', 'transfer-encoding', 'connection', 'keep-alive'].includes(name)) response.setHeader(name, value)
          })
          response.end(Buffer.from(await upstream.arrayBuffer()))
        })
        .catch(() => {
          response.statusCode = 502
          response.end()
        })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${prefix}`, server }
}

before(async () => {
  sim = createMailchimpSimulator()
  base = await sim.listen({ port: 0, host: '127.0.0.1' })
})
after(async () => {
  await sim.close()
})

describe('credentials and SDK client', () => {
  test('a good key opens its account; malformed and revoked keys are auth errors', async () => {
    const key = newKey()
    const { accountId } = await account(key)
    const info = await adapter.verifyCredentials(ctxFor(key))
    assert.equal(info.accountId, accountId)
    assert.equal(typeof info.name, 'string')

    const malformed = await rejectsWith(adapter.verifyCredentials(ctxFor('not-a-mailchimp-key')), ProviderAuthError)
    assert.equal(malformed.status, 401)
    assert.equal(malformed.providerCode, 'API Key Invalid')
    await control('POST', '/credentials/revoke', { credential: key })
    const revoked = await rejectsWith(adapter.verifyCredentials(ctxFor(key)), ProviderAuthError)
    assert.equal(revoked.providerCode, 'API Key Invalid')
    await rejectsWith(adapter.verifyCredentials({ baseUrl: base, credentials: {} }), ProviderAuthError)
  })

  test('one client per call: concurrent connections never share credentials', async () => {
    const keys = Array.from({ length: 6 }, () => newKey())
    const expected = await Promise.all(keys.map(async (key) => (await account(key)).accountId))
    const got = await Promise.all(keys.map(async (key) => (await adapter.verifyCredentials(ctxFor(key))).accountId))
    assert.deepEqual(got, expected)
    // The package's module-level singleton stays untouched.
    const singleton = createRequire(import.meta.url)('@mailchimp/mailchimp_marketing') as { config: { apiKey: string } }
    assert.equal(singleton.config.apiKey, '')
  })

  test('a base URL containing "server" is used verbatim; {dc} is filled explicitly', async () => {
    const key = newKey('us7')
    const client = createSdkClient(ctxFor(key, 'http://server.internal:8080/'), { timeoutMs: 1000 })
    assert.equal(client.buildUrl('/lists/{list_id}', { list_id: 'abc' }), 'http://server.internal:8080/3.0/lists/abc')
    // What the SDK does once config.server is defined, which is why we never define it:
    client.setConfig({ apiKey: key, server: 'us7' })
    assert.equal(client.buildUrl('/ping', {}), 'http://us7.internal:8080/3.0/ping')
    assert.equal(resolveBasePath(ctxFor(key, 'https://{dc}.api.mailchimp.com')), 'https://us7.api.mailchimp.com/3.0')
    assert.equal(resolveBasePath({ baseUrl: 'https://{dc}.api.mailchimp.com', credentials: { accessToken: 'x', dc: 'us3' } }), 'https://us3.api.mailchimp.com/3.0')
    assert.throws(() => resolveBasePath({ baseUrl: 'https://{dc}.api.mailchimp.com', credentials: { accessToken: 'x' } }), ProviderAuthError)

    const proxy = await prefixProxy('/mailchimp-server')
    try {
      const { accountId, records } = await account(key)
      assert.equal((await adapter.verifyCredentials(ctxFor(key, proxy.url))).accountId, accountId)
      const pages = await collect(adapter.listChanges(ctxFor(key, proxy.url), 'contact', { mode: 'full', cursor: null, pageSize: 1000 }))
      assert.equal(ids(pages).records.length, records.length)
    } finally {
      proxy.server.close()
    }
  })
})

describe('listing contacts', () => {
  test('a full walk over 3000 members while they change, get archived, deleted and created', async () => {
    const key = newKey()
    const { accountId, records } = await account(key, 3000)
    const ctx = ctxFor(key)
    const byList = new Map<string, SimRecord[]>()
    for (const record of records) byList.set(record.listId, [...(byList.get(record.listId) ?? []), record])
    const [first, second] = [...byList.values()] as [SimRecord[], SimRecord[]]
    assert.equal(first.length, 1500)
    const at = (list: SimRecord[], index: number): string => (list[index] as SimRecord).id

    const patched = [at(first, 100), at(first, 900), at(second, 50)]
    const archivedBehind = at(first, 10)
    const archivedAhead = at(first, 1000)
    const deletedBehind = [at(first, 5), at(first, 150), ...first.slice(390, 400).map((record) => record.id), ...first.slice(600, 630).map((record) => record.id)]
    const deletedAhead = [at(first, 1200), at(second, 700)]
    let created: string[] = []

    const seen: string[] = []
    const deleted: string[] = []
    const names = new Map<string, string | null>()
    let pageNumber = 0
    for await (const page of adapter.listChanges(ctx, 'contact', { mode: 'full', cursor: null, pageSize: 200 })) {
      pageNumber++
      for (const record of page.records) {
        seen.push(record.externalId)
        names.set(record.externalId, record.data.givenName)
        assert.equal(record.entity, 'contact')
        assert.equal(record.externalId, `${record.data.listId}:${md5(record.data.email)}`)
      }
      deleted.push(...page.deletedIds)
      if (pageNumber === 2) {
        for (const id of patched) await control('PATCH', `/accounts/${accountId}/contact/${id}`, { merge_fields: { FNAME: 'Patched' } })
        await control('DELETE', `/accounts/${accountId}/contact/${archivedBehind}`)
        await control('DELETE', `/accounts/${accountId}/contact/${archivedAhead}`)
        for (const id of [...deletedBehind.slice(0, 12), ...deletedAhead]) await control('DELETE', `/accounts/${accountId}/contact/${id}?permanent=true`)
        const listId = second[0]?.listId
        created = (await control<{ created: Array<{ id: string }> }>('POST', `/accounts/${accountId}/contact`, { count: 5, listId })).created.map((record) => record.id)
      }
      if (pageNumber === 5) {
        // 30 members gone behind the position: more than the 20 anchor ids can bridge at once.
        for (const id of deletedBehind.slice(12)) await control('DELETE', `/accounts/${accountId}/contact/${id}?permanent=true`)
      }
    }

    const all = [...seen, ...deleted]
    assert.equal(new Set(all).size, all.length, 'no member is returned twice')
    const expected = new Set(records.map((record) => record.id).filter((id) => !deletedAhead.includes(id)))
    for (const id of created) expected.add(id)
    assert.deepEqual(new Set(all), expected)
    assert.deepEqual(deleted, [archivedAhead])
    assert.ok(seen.includes(archivedBehind))
    assert.equal(names.get(at(first, 900)), 'Patched')
    assert.equal(names.get(at(second, 50)), 'Patched')
    assert.notEqual(names.get(at(first, 100)), 'Patched')
    assert.equal(seen.length, 3000 - 2 + 5 - 1)
  })

  test('a full run captures its watermark at the start: the next incremental run sees changes made during it', async () => {
    const key = newKey()
    const { accountId, records } = await account(key, 1000)
    const ctx = ctxFor(key)
    const changed: string[] = []
    let cursor = ''
    let pageNumber = 0
    for await (const page of adapter.listChanges(ctx, 'contact', { mode: 'full', cursor: null, pageSize: 250 })) {
      if (++pageNumber === 1) {
        for (const record of [records[1], records[999]] as SimRecord[]) {
          await control('PATCH', `/accounts/${accountId}/contact/${record.id}`, { merge_fields: { LNAME: 'During' } })
          changed.push(record.id)
        }
      }
      cursor = page.cursor
    }
    assert.equal(decodeCursor(cursor)?.phase, 'done')
    await advance(5)
    const pages = await collect(adapter.listChanges(ctx, 'contact', { mode: 'incremental', cursor }))
    assert.deepEqual(ids(pages).records.sort(), [...changed].sort())
  })

  test('incremental runs return exactly the creates, changes and archives since the cursor', async () => {
    const key = newKey()
    const { accountId, records } = await account(key, 400)
    const ctx = ctxFor(key)
    const full = await collect(adapter.listChanges(ctx, 'contact', { mode: 'full', cursor: null }))
    assert.equal(ids(full).records.length, 400)
    assert.equal(full.at(-1)?.hasMore, false)
    let cursor = full.at(-1)?.cursor ?? null

    await advance(5)
    const created = (await control<{ created: Array<{ id: string }> }>('POST', `/accounts/${accountId}/contact`, { count: 3 })).created.map((record) => record.id)
    const patched = [records[20]?.id ?? '', records[321]?.id ?? '']
    for (const id of patched) await control('PATCH', `/accounts/${accountId}/contact/${id}`, { status: 'unsubscribed' })
    const archived = [records[7]?.id ?? '', records[300]?.id ?? '']
    for (const id of archived) await control('DELETE', `/accounts/${accountId}/contact/${id}`)
    const purged = records[50]?.id ?? ''
    await control('DELETE', `/accounts/${accountId}/contact/${purged}?permanent=true`)
    await advance(5)

    const first = await collect(adapter.listChanges(ctx, 'contact', { mode: 'incremental', cursor }))
    const firstIds = ids(first)
    assert.deepEqual(new Set(firstIds.records), new Set([...created, ...patched]))
    assert.equal(firstIds.records.length, 5)
    assert.deepEqual(new Set(firstIds.deleted), new Set(archived))
    assert.ok(!firstIds.records.includes(purged) && !firstIds.deleted.includes(purged), 'a permanent delete leaves no trace')
    const unsubscribed = first.flatMap((page) => page.records).filter((record) => patched.includes(record.externalId))
    assert.deepEqual(
      unsubscribed.map((record) => record.data.status),
      ['unsubscribed', 'unsubscribed'],
    )
    cursor = first.at(-1)?.cursor ?? null

    await advance(5)
    const quiet = await collect(adapter.listChanges(ctx, 'contact', { mode: 'incremental', cursor }))
    assert.deepEqual(ids(quiet), { records: [], deleted: [] })
    cursor = quiet.at(-1)?.cursor ?? null

    await control('PATCH', `/accounts/${accountId}/contact/${records[399]?.id ?? ''}`, { merge_fields: { FNAME: 'Late' } })
    await advance(5)
    const last = await collect(adapter.listChanges(ctx, 'contact', { mode: 'incremental', cursor }))
    assert.deepEqual(ids(last).records, [records[399]?.id])
    assert.equal(last.flatMap((page) => page.records)[0]?.data.givenName, 'Late')
  })

  test('a run resumes from a mid-run checkpoint, also after a failure, without repeats', async () => {
    const key = newKey()
    const { accountId, records } = await account(key, 600)
    const ctx = ctxFor(key)
    const seen: string[] = []
    let checkpoint: string | null = null
    for await (const page of adapter.listChanges(ctx, 'contact', { mode: 'full', cursor: null, pageSize: 100 })) {
      seen.push(...page.records.map((record) => record.externalId))
      checkpoint = page.cursor
      if (seen.length >= 200) break
    }
    assert.equal(decodeCursor(checkpoint)?.phase, 'walk')
    // Something behind the checkpoint disappears while the run is paused.
    await control('DELETE', `/accounts/${accountId}/contact/${seen[150] ?? ''}?permanent=true`)
    await control('POST', '/faults', { kind: 'server_error', account: accountId, times: 1, pathIncludes: '/members' })
    const iterator = adapter.listChanges(ctx, 'contact', { mode: 'full', cursor: checkpoint, pageSize: 100 })[Symbol.asyncIterator]()
    await rejectsWith(iterator.next(), ProviderUnavailableError)
    let last: ChangePage<'contact'> | undefined
    for await (const page of adapter.listChanges(ctx, 'contact', { mode: 'full', cursor: checkpoint, pageSize: 100 })) {
      seen.push(...page.records.map((record) => record.externalId))
      last = page
    }
    assert.equal(last?.hasMore, false)
    assert.equal(new Set(seen).size, seen.length)
    assert.deepEqual(new Set(seen), new Set(records.map((record) => record.id)))
  })

  test('fetchOne reads a member; archived, unknown and malformed ids', async () => {
    const key = newKey()
    const { accountId, records } = await account(key)
    const ctx = ctxFor(key)
    const target = records[3] as SimRecord
    const record = await adapter.fetchOne(ctx, 'contact', target.id)
    assert.equal(record?.data.email, target.email)
    assert.equal(record?.data.listId, target.listId)
    await control('DELETE', `/accounts/${accountId}/contact/${target.id}`)
    assert.equal(await adapter.fetchOne(ctx, 'contact', target.id), null)
    assert.equal(await adapter.fetchOne(ctx, 'contact', `${target.listId}:${md5('nobody@example.org')}`), null)
    await rejectsWith(adapter.fetchOne(ctx, 'contact', 'garbage'), ProviderInvalidError)
    assert.throws(() => adapter.listChanges(ctx, 'payment', { mode: 'full', cursor: null }), ProviderInvalidError)
    const missingList = createMailchimpAdapter({ listId: '0000000000' })
    await rejectsWith(collect(missingList.listChanges(ctx, 'contact', { mode: 'full', cursor: null })), ProviderNotFoundError)
  })

  test('listId restricts the walk to one audience', async () => {
    const key = newKey()
    const { records } = await account(key)
    const listId = records[0]?.listId ?? ''
    const single = createMailchimpAdapter({ listId })
    const pages = await collect(single.listChanges(ctxFor(key), 'contact', { mode: 'full', cursor: null }))
    assert.deepEqual(new Set(ids(pages).records), new Set(records.filter((record) => record.listId === listId).map((record) => record.id)))
  })
})

describe('faults map to typed errors', () => {
  test('429 without Retry-After → rate limited with the adapter wait; 500, timeout, reset, expired', async () => {
    const key = newKey()
    const { accountId } = await account(key)
    const ctx = ctxFor(key)
    await control('POST', '/faults', { kind: 'rate_limit', account: accountId, times: 1 })
    const limited = await rejectsWith(adapter.verifyCredentials(ctx), ProviderRateLimitedError)
    assert.equal(limited.retryAfterMs, RATE_LIMIT_WAIT_MS)
    assert.equal(limited.status, 429)
    assert.equal(limited.providerCode, 'Too Many Requests')

    await control('POST', '/faults', { kind: 'server_error', account: accountId, times: 1 })
    assert.equal((await rejectsWith(adapter.verifyCredentials(ctx), ProviderUnavailableError)).status, 500)

    const impatient = createMailchimpAdapter({ timeoutMs: 300 })
    await control('POST', '/faults', { kind: 'slow', account: accountId, times: 1, delayMs: 1500 })
    await rejectsWith(impatient.verifyCredentials(ctx), ProviderUnavailableError)

    await control('POST', '/faults', { kind: 'reset', account: accountId, times: 1 })
    await rejectsWith(adapter.verifyCredentials(ctx), ProviderUnavailableError)

    await control('POST', '/faults', { kind: 'expired_token', account: accountId, times: 1 })
    await rejectsWith(adapter.verifyCredentials(ctx), ProviderAuthError)
    assert.equal((await adapter.verifyCredentials(ctx)).accountId, accountId)
  })

  test('more than 10 simultaneous connections are rate limited', async () => {
    const limited = createMailchimpSimulator({ enforceRateLimits: true })
    const url = await limited.listen({ port: 0, host: '127.0.0.1' })
    try {
      const key = newKey()
      const { accountId } = (await (await fetch(`${url}/_sim/accounts/lookup?credential=${key}`)).json()) as { accountId: string }
      await fetch(`${url}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'slow', account: accountId, times: 10, delayMs: 1500 }) })
      const outcomes = await Promise.allSettled(Array.from({ length: 13 }, () => adapter.verifyCredentials(ctxFor(key, url))))
      const rejected = outcomes.filter((outcome) => outcome.status === 'rejected') as PromiseRejectedResult[]
      assert.equal(outcomes.length - rejected.length, 10)
      assert.equal(rejected.length, 3)
      for (const outcome of rejected) {
        assert.ok(outcome.reason instanceof ProviderRateLimitedError)
        assert.equal(outcome.reason.retryAfterMs, RATE_LIMIT_WAIT_MS)
      }
    } finally {
      await limited.close()
    }
  })

  test('an aborted signal stops the call', async () => {
    const key = newKey()
    const controller = new AbortController()
    controller.abort()
    await assert.rejects(adapter.verifyCredentials({ ...ctxFor(key), signal: controller.signal }), { name: 'AbortError' })
  })
})

describe('webhooks', () => {
  test('register on every audience, verify deliveries by URL secret, remove', async () => {
    const hook = await receiver()
    try {
      const key = newKey()
      const { accountId, records } = await account(key)
      const ctx = ctxFor(key)
      const registration = await adapter.registerWebhook(ctx, `${hook.url}/webhooks/mailchimp/conn_42`)
      assert.ok(registration.secret && registration.secret.length >= 40)
      const endpoints = registration.endpointId.split(',')
      assert.equal(endpoints.length, 2)
      const registered = await control<{ webhooks: Array<{ id: string; listId: string; url: string; sources: { api: boolean } }> }>('GET', `/webhooks?accountId=${accountId}`)
      assert.deepEqual(registered.webhooks.map((webhook) => `${webhook.listId}:${webhook.id}`).sort(), [...endpoints].sort())
      for (const webhook of registered.webhooks) {
        assert.equal(new URL(webhook.url).searchParams.get('secret'), registration.secret)
        assert.equal(webhook.sources.api, true)
      }
      assert.equal(hook.hits.filter((hit) => hit.method === 'GET').length, 2, 'Mailchimp validated each URL with a GET')

      const member = records.find((record) => record.listId === registered.webhooks[0]?.listId) as SimRecord
      const fired = await control<{ sent: Array<{ status: number }> }>('POST', '/webhooks/fire', { accountId, type: 'subscribe', objectId: member.id })
      assert.deepEqual(
        fired.sent.map((sent) => sent.status),
        [200],
      )
      const delivery = hook.hits.at(-1)
      assert.equal(delivery?.method, 'POST')
      const input = { rawBody: delivery?.body ?? Buffer.alloc(0), headers: delivery?.headers ?? {}, url: `${hook.url}${delivery?.url ?? ''}`, secret: registration.secret ?? '' }
      const [event] = adapter.verifyWebhook(input)
      assert.equal(event?.type, 'subscribe')
      assert.equal(event?.entity, 'contact')
      assert.equal(event?.externalId, member.id)
      assert.equal(event?.eventId, createHash('sha256').update(input.rawBody).digest('hex'))
      assert.equal(adapter.verifyWebhook(input)[0]?.eventId, event?.eventId, 'the same delivery keeps its id')
      assert.match(event?.occurredAt ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/)

      const upemail = await control<{ sent: Array<{ body: string }> }>('POST', '/webhooks/fire', { accountId, type: 'upemail', objectId: member.id, newEmail: 'Moved@Example.org' })
      const moved = adapter.verifyWebhook({ ...input, rawBody: Buffer.from(upemail.sent[0]?.body ?? '') })
      assert.equal(moved[0]?.externalId, `${member.listId}:${md5('moved@example.org')}`)

      const wrongSecret = input.url.replace(/secret=[^&]+/, 'secret=guess')
      assert.throws(
        () => adapter.verifyWebhook({ ...input, url: wrongSecret }),
        (error: unknown) => error instanceof WebhookVerificationError && error.reason === 'bad_signature',
      )
      assert.throws(
        () => adapter.verifyWebhook({ ...input, secret: 'rotated' }),
        (error: unknown) => error instanceof WebhookVerificationError && error.reason === 'bad_signature',
      )
      assert.throws(
        () => adapter.verifyWebhook({ ...input, url: `${hook.url}/webhooks/mailchimp/conn_42` }),
        (error: unknown) => error instanceof WebhookVerificationError && error.reason === 'missing_signature',
      )
      const stale = Buffer.from(`type=profile&fired_at=${encodeURIComponent('2009-03-26 21:35:57')}&data%5Blist_id%5D=${member.listId}&data%5Bemail%5D=x%40example.org`)
      assert.throws(
        () => adapter.verifyWebhook({ ...input, rawBody: stale }),
        (error: unknown) => error instanceof WebhookVerificationError && error.reason === 'stale',
      )
      assert.throws(
        () => adapter.verifyWebhook({ ...input, rawBody: Buffer.from('{"type":"subscribe"}') }),
        (error: unknown) => error instanceof WebhookVerificationError && error.reason === 'malformed',
      )

      await adapter.removeWebhook(ctx, registration.endpointId)
      assert.equal((await control<{ webhooks: unknown[] }>('GET', `/webhooks?accountId=${accountId}`)).webhooks.length, 0)
      await adapter.removeWebhook(ctx, registration.endpointId)
    } finally {
      hook.server.close()
    }
  })

  test('registration is all or nothing when Mailchimp refuses the URL on one audience', async () => {
    const hook = await receiver(2)
    try {
      const key = newKey()
      const { accountId } = await account(key)
      const error = await rejectsWith(adapter.registerWebhook(ctxFor(key), `${hook.url}/webhooks/mailchimp`), ProviderInvalidError)
      assert.equal(error.providerCode, 'Invalid Resource')
      assert.equal((await control<{ webhooks: unknown[] }>('GET', `/webhooks?accountId=${accountId}`)).webhooks.length, 0)
    } finally {
      hook.server.close()
    }
  })
})

describe('pushing contacts', () => {
  test('upsertContacts batches in chunks of 500 and reports per-email failures', async () => {
    const key = newKey()
    const { records } = await account(key, 10)
    const listId = records[0]?.listId ?? ''
    const ctx = ctxFor(key)
    const members = Array.from({ length: 1203 }, (_, i) => ({
      email: i === 700 ? 'broken-address' : `Patron.${i}@Example.org`,
      givenName: `Patron${i}`,
      familyName: i % 2 ? 'Even' : null,
      status: 'subscribed' as const,
    }))
    members.push({ email: records[0]?.email ?? '', givenName: 'Existing', familyName: null, status: 'subscribed' })
    const result = await adapter.upsertContacts?.(ctx, listId, members)
    assert.equal(result?.succeeded, 1203)
    assert.deepEqual(
      result?.failed.map((failure) => [failure.key, failure.code]),
      [['broken-address', 'ERROR_GENERIC']],
    )
    const again = await adapter.upsertContacts?.(
      ctx,
      listId,
      members.slice(0, 3).map((member) => ({ ...member, givenName: 'Renamed' })),
    )
    assert.deepEqual(again, { succeeded: 3, failed: [] })
    const stored = await adapter.fetchOne(ctx, 'contact', `${listId}:${md5('patron.1@example.org')}`)
    assert.equal(stored?.data.givenName, 'Renamed')
    assert.equal(stored?.data.familyName, 'Even')
    const existing = await adapter.fetchOne(ctx, 'contact', records[0]?.id ?? '')
    assert.equal(existing?.data.givenName, 'Existing')
  })
})

describe('OAuth', () => {
  test('code exchange learns dc and account; no refresh, no revoke', async () => {
    const oauth = adapter.oauth as NonNullable<ProviderAdapter['oauth']>
    const redirectUri = 'https://hub.example/oauth/mailchimp/callback'
    const url = oauth.authorizeUrl({ authBaseUrl: base, clientId: 'hub-client', redirectUri, state: 'st4te' })
    assert.equal(new URL(url).pathname, '/oauth2/authorize')
    const redirect = await fetch(url, { redirect: 'manual' })
    const location = new URL(redirect.headers.get('location') ?? '')
    assert.equal(location.searchParams.get('state'), 'st4te')
    const code = location.searchParams.get('code') ?? ''
    const tokens = await oauth.exchangeCode({ authBaseUrl: base, clientId: 'hub-client', clientSecret: 'secret', code, redirectUri })
    assert.equal(tokens.refreshToken, null)
    assert.equal(tokens.expiresAt, null)
    assert.equal(tokens.dc, 'us21')
    const info = await adapter.verifyCredentials({ baseUrl: base, credentials: { accessToken: tokens.accessToken, dc: tokens.dc ?? '' } })
    assert.equal(info.accountId, tokens.accountId)
    await rejectsWith(oauth.exchangeCode({ authBaseUrl: base, clientId: 'hub-client', clientSecret: 'secret', code, redirectUri }), ProviderAuthError)
    await rejectsWith(oauth.refresh({ authBaseUrl: base, clientId: 'hub-client', clientSecret: 'secret', refreshToken: 'x' }), ProviderAuthError)
    await rejectsWith(oauth.revoke({ authBaseUrl: base, clientId: 'hub-client', clientSecret: 'secret', token: tokens.accessToken }), ProviderInvalidError)
    assert.equal(adapter.auth.type === 'api_key' ? adapter.auth.oauth?.revokePath : undefined, null)
  })
})
