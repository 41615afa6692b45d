// Wire-level tests of the Mailchimp simulator: plain fetch, asserting Mailchimp's own statuses,
// bodies and headers.
import { createHash, randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { createMailchimpSimulator } from '../src/mailchimp/index.ts'

const ERROR_TYPE = 'https://mailchimp.com/developer/marketing/docs/errors/'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const newKey = (dc = 'us21'): string => `${randomBytes(16).toString('hex')}-${dc}`
const basic = (key: string): string => `Basic ${Buffer.from(`anystring:${key}`).toString('base64')}`
const md5 = (email: string): string => createHash('md5').update(email.toLowerCase()).digest('hex')

interface Member {
  id: string
  email_address: string
  status: string
  last_changed: string
  merge_fields: Record<string, string>
  list_id: string
  _links?: unknown
}
interface MembersPage {
  members: Member[]
  list_id: string
  total_items: number
}
interface List {
  id: string
  name: string
  stats: { member_count: number }
}

let sim: FastifyInstance
let base: string

async function api(key: string, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers)
  if (!headers.has('authorization')) headers.set('authorization', basic(key))
  if (init.body !== undefined) headers.set('content-type', 'application/json')
  return fetch(`${base}/3.0${path}`, { ...init, headers })
}

async function json<T>(response: Response): Promise<T> {
  return (await response.json()) as T
}

async function control<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${base}/_sim${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  })
  assert.ok(response.status < 300, `${method} ${path} → ${response.status} ${await response.clone().text()}`)
  return response.status === 204 ? (undefined as T) : json<T>(response)
}

async function accountOf(key: string): Promise<string> {
  return (await control<{ accountId: string }>('GET', `/accounts/lookup?credential=${encodeURIComponent(key)}`)).accountId
}

async function lists(key: string): Promise<List[]> {
  return (await json<{ lists: List[] }>(await api(key, '/lists?count=100'))).lists
}

async function walk(key: string, listId: string, query = '', count = 100): Promise<Member[]> {
  const out: Member[] = []
  for (let offset = 0; ; offset += count) {
    const page = await json<MembersPage>(await api(key, `/lists/${listId}/members?count=${count}&offset=${offset}${query}`))
    out.push(...page.members)
    if (offset + count >= page.total_items) return out
  }
}

function assertProblem(body: Record<string, unknown>, status: number, title: string): void {
  assert.equal(body.type, ERROR_TYPE)
  assert.equal(body.status, status)
  assert.equal(body.title, title)
  assert.equal(typeof body.detail, 'string')
  assert.match(String(body.instance), UUID)
}

/** A webhook receiver recording what it was sent. */
async function receiver(): Promise<{ url: string; server: Server; hits: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }> }> {
  const hits: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }> = []
  const server = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')))
    request.on('end', () => {
      hits.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body })
      response.statusCode = request.url?.startsWith('/broken') ? 500 : 200
      response.end('ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, hits }
}

before(async () => {
  sim = createMailchimpSimulator({ dc: 'us21' })
  base = await sim.listen({ port: 0, host: '127.0.0.1' })
})
after(async () => {
  await sim.close()
})

describe('authentication', () => {
  test('a request without credentials gets API Key Missing as problem+json', async () => {
    const response = await fetch(`${base}/3.0/lists`)
    assert.equal(response.status, 401)
    assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/)
    const body = await json<Record<string, unknown>>(response)
    assertProblem(body, 401, 'API Key Missing')
    assert.equal(body.detail, 'Your request did not include an API key.')
  })

  test('malformed, wrong-datacentre and revoked keys get the same API Key Invalid', async () => {
    const revoked = newKey()
    assert.equal((await api(revoked, '/ping')).status, 200)
    await control('POST', '/credentials/revoke', { credential: revoked })
    for (const key of ['not-a-key', `${randomBytes(16).toString('hex')}-`, `${randomBytes(15).toString('hex')}-us21`, newKey('us5'), revoked]) {
      const response = await api(key, '/ping')
      assert.equal(response.status, 401, key)
      assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/)
      const body = await json<Record<string, unknown>>(response)
      assertProblem(body, 401, 'API Key Invalid')
      assert.equal(body.detail, "Your API key may be invalid, or you've attempted to access the wrong datacenter.")
      assert.deepEqual(Object.keys(body).sort(), ['detail', 'instance', 'status', 'title', 'type'])
    }
  })

  test('a key opens a deterministic account; any Basic username works', async () => {
    const key = newKey()
    const first = await json<{ account_id: string; account_name: string }>(await api(key, '/'))
    assert.match(first.account_id, /^[0-9a-f]{25}$/)
    const again = await json<{ account_id: string }>(await api(key, '/', { headers: { authorization: `Basic ${Buffer.from(`someone-else:${key}`).toString('base64')}` } }))
    assert.equal(again.account_id, first.account_id)
    assert.equal(await accountOf(key), first.account_id)
    assert.deepEqual(await json(await api(key, '/ping')), { health_status: "Everything's Chimpy!" })
    const other = await json<{ account_id: string }>(await api(newKey(), '/'))
    assert.notEqual(other.account_id, first.account_id)
  })
})

describe('lists and members', () => {
  const key = newKey()

  test('two audiences share the 300 seeded members; ids are MD5 of the lowercase email', async () => {
    const all = await lists(key)
    assert.equal(all.length, 2)
    let total = 0
    for (const list of all) {
      assert.match(list.id, /^[0-9a-f]{10}$/)
      const members = await walk(key, list.id)
      total += members.length
      for (const member of members) {
        assert.equal(member.id, md5(member.email_address))
        assert.equal(member.list_id, list.id)
        assert.match(member.last_changed, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/)
      }
      assert.equal(list.stats.member_count, members.filter((member) => member.status === 'subscribed').length)
      assert.equal(new Set(members.map((member) => member.id)).size, members.length)
    }
    assert.equal(total, 300)
  })

  test('count defaults to 10 and is capped at 1000 with a 400', async () => {
    const [list] = await lists(key)
    const page = await json<MembersPage>(await api(key, `/lists/${list?.id}/members`))
    assert.equal(page.members.length, 10)
    assert.equal(page.list_id, list?.id)
    const tooMany = await api(key, `/lists/${list?.id}/members?count=1001`)
    assert.equal(tooMany.status, 400)
    assertProblem(await json(tooMany), 400, 'Invalid Resource')
    assert.equal((await api(key, `/lists/${list?.id}/members?count=1000`)).status, 200)
    const missing = await api(key, '/lists/0000000000/members')
    assert.equal(missing.status, 404)
    assertProblem(await json(missing), 404, 'Resource Not Found')
  })

  test('fields and exclude_fields trim the response', async () => {
    const [list] = await lists(key)
    const trimmed = await json<Record<string, unknown>>(await api(key, `/lists/${list?.id}/members?count=2&fields=members.id,members.email_address,total_items`))
    assert.deepEqual(Object.keys(trimmed).sort(), ['members', 'total_items'])
    assert.deepEqual(Object.keys((trimmed.members as object[])[0] ?? {}).sort(), ['email_address', 'id'])
    const excluded = await json<MembersPage>(await api(key, `/lists/${list?.id}/members?count=2&exclude_fields=members._links,_links`))
    assert.equal(excluded.members[0]?._links, undefined)
    assert.ok(excluded.members[0]?.merge_fields)
  })

  test('an offset walk is stable while members change; only permanent deletes shift', async () => {
    const walker = newKey()
    const accountId = await accountOf(walker)
    const [list] = await lists(walker)
    const listId = list?.id ?? ''
    const expected = (await walk(walker, listId)).map((member) => member.id)
    const seen: string[] = []
    for (let offset = 0; offset < expected.length; offset += 25) {
      const page = await json<MembersPage>(await api(walker, `/lists/${listId}/members?count=25&offset=${offset}`))
      seen.push(...page.members.map((member) => member.id))
      // Changes, archives and creations mid-walk: order is by creation, so nothing moves.
      await control('PATCH', `/accounts/${accountId}/contact/${listId}:${expected[offset] ?? ''}`, { merge_fields: { FNAME: `Changed ${offset}` } })
      await control('DELETE', `/accounts/${accountId}/contact/${listId}:${expected[expected.length - 1 - offset] ?? ''}`)
    }
    assert.deepEqual(seen, expected)
    // A permanent deletion behind the cursor shifts every later member one place left, as on
    // the real API: the member that moves across the page boundary is skipped by a naive walk.
    const before = await json<MembersPage>(await api(walker, `/lists/${listId}/members?count=10&offset=10`))
    await control('DELETE', `/accounts/${accountId}/contact/${listId}:${expected[0] ?? ''}?permanent=true`)
    const after = await json<MembersPage>(await api(walker, `/lists/${listId}/members?count=10&offset=10`))
    assert.equal(after.members[0]?.id, before.members[1]?.id)
    assert.equal(after.total_items, before.total_items - 1)
  })

  test('since_last_changed shows control-API changes, creations and archives', async () => {
    const changer = newKey()
    const accountId = await accountOf(changer)
    const [list] = await lists(changer)
    const listId = list?.id ?? ''
    const members = await walk(changer, listId)
    const { now } = await control<{ now: string }>('POST', '/clock', { advanceSeconds: 10 })
    const since = new Date(Date.parse(now) - 1000).toISOString()
    const changed = members[3] as Member
    const archived = members[7] as Member
    await control('PATCH', `/accounts/${accountId}/contact/${listId}:${changed.id}`, { status: 'unsubscribed' })
    await control('DELETE', `/accounts/${accountId}/contact/${listId}:${archived.id}`)
    const created = await control<{ created: Array<{ id: string; subscriberHash: string }> }>('POST', `/accounts/${accountId}/contact`, { count: 2, listId })
    const recent = await walk(changer, listId, `&since_last_changed=${encodeURIComponent(since)}`)
    assert.deepEqual(
      recent.map((member) => [member.id, member.status]),
      [[changed.id, 'unsubscribed'], [archived.id, 'archived'], ...created.created.map((record) => [record.subscriberHash, 'subscribed'])],
    )
    const beforeBound = await walk(changer, listId, `&since_last_changed=${encodeURIComponent(since)}&before_last_changed=${encodeURIComponent(since)}`)
    assert.equal(beforeBound.length, 0)
    const onlyArchived = await walk(changer, listId, '&status=archived')
    assert.deepEqual(
      onlyArchived.map((member) => member.id),
      [archived.id],
    )
    const bad = await api(changer, `/lists/${listId}/members?since_last_changed=yesterday`)
    assert.equal(bad.status, 400)
  })

  test('member PUT upserts, PATCH updates, DELETE archives, GET reads by hash or email', async () => {
    const writer = newKey()
    const [list] = await lists(writer)
    const listId = list?.id ?? ''
    const email = 'New.Person@Example.org'
    const hash = md5(email)
    const put = await api(writer, `/lists/${listId}/members/${hash}`, {
      method: 'PUT',
      body: JSON.stringify({ email_address: email, status_if_new: 'subscribed', merge_fields: { FNAME: 'New', LNAME: 'Person' } }),
    })
    assert.equal(put.status, 200)
    const created = await json<Member>(put)
    assert.equal(created.id, hash)
    assert.equal(created.status, 'subscribed')
    const patched = await json<Member>(await api(writer, `/lists/${listId}/members/${hash}`, { method: 'PATCH', body: JSON.stringify({ merge_fields: { FNAME: 'Renamed' } }) }))
    assert.equal(patched.merge_fields.FNAME, 'Renamed')
    assert.equal(patched.merge_fields.LNAME, 'Person')
    const byEmail = await json<Member>(await api(writer, `/lists/${listId}/members/${encodeURIComponent(email)}`))
    assert.equal(byEmail.id, hash)
    const exists = await api(writer, `/lists/${listId}/members`, { method: 'POST', body: JSON.stringify({ email_address: email, status: 'subscribed' }) })
    assert.equal(exists.status, 400)
    assertProblem(await json(exists), 400, 'Member Exists')
    assert.equal((await api(writer, `/lists/${listId}/members/${hash}`, { method: 'DELETE' })).status, 204)
    assert.equal((await json<Member>(await api(writer, `/lists/${listId}/members/${hash}`))).status, 'archived')
    assert.equal((await api(writer, `/lists/${listId}/members/${hash}`, { method: 'DELETE' })).status, 404)
    const mismatch = await api(writer, `/lists/${listId}/members/${hash}`, { method: 'PUT', body: JSON.stringify({ email_address: 'other@example.org', status_if_new: 'subscribed' }) })
    assert.equal(mismatch.status, 400)
    const badJson = await api(writer, `/lists/${listId}/members/${hash}`, { method: 'PATCH', body: '{nope' })
    assert.equal(badJson.status, 400)
    assertProblem(await json(badJson), 400, 'JSON Parse Exception')
  })

  test('batch subscribe reports new, updated and per-member errors', async () => {
    const batcher = newKey()
    const [list] = await lists(batcher)
    const listId = list?.id ?? ''
    const [existing] = await walk(batcher, listId, '&status=subscribed', 1)
    const members = [
      { email_address: 'fresh.one@example.org', status: 'subscribed', merge_fields: { FNAME: 'Fresh' } },
      { email_address: existing?.email_address, status: 'unsubscribed' },
      { email_address: 'not-an-email', status: 'subscribed' },
    ]
    const refused = await json<Record<string, unknown>>(await api(batcher, `/lists/${listId}`, { method: 'POST', body: JSON.stringify({ members, update_existing: false }) }))
    assert.equal(refused.total_created, 1)
    assert.equal(refused.total_updated, 0)
    assert.equal(refused.error_count, 2)
    const codes = (refused.errors as Array<{ email_address: string; error_code: string }>).map((error) => [error.email_address, error.error_code])
    assert.deepEqual(codes, [
      [existing?.email_address, 'ERROR_CONTACT_EXISTS'],
      ['not-an-email', 'ERROR_GENERIC'],
    ])
    const updated = await json<{ new_members: Member[]; updated_members: Member[]; error_count: number }>(
      await api(batcher, `/lists/${listId}`, { method: 'POST', body: JSON.stringify({ members: members.slice(0, 2), update_existing: true }) }),
    )
    assert.equal(updated.new_members.length, 0)
    assert.deepEqual(
      updated.updated_members.map((member) => [member.email_address, member.status]),
      [
        ['fresh.one@example.org', 'subscribed'],
        [existing?.email_address, 'unsubscribed'],
      ],
    )
    const tooMany = await api(batcher, `/lists/${listId}`, {
      method: 'POST',
      body: JSON.stringify({ members: Array.from({ length: 501 }, (_, i) => ({ email_address: `p${i}@example.org`, status: 'subscribed' })) }),
    })
    assert.equal(tooMany.status, 400)
  })
})

describe('control API', () => {
  test('seed, list, create, patch and delete records', async () => {
    const key = newKey()
    const accountId = await accountOf(key)
    await control('POST', `/accounts/${accountId}/seed`, { count: 50, entity: 'contact' })
    const { records } = await control<{ records: Array<{ id: string; status: string }> }>('GET', `/accounts/${accountId}/contact`)
    assert.equal(records.length, 50)
    const again = await control<{ records: Array<{ id: string }> }>('GET', `/accounts/${accountId}/contact`)
    assert.deepEqual(again.records, records)
    const created = await control<{ created: Array<{ id: string }> }>('POST', `/accounts/${accountId}/contact`, { count: 3 })
    assert.equal(created.created.length, 3)
    const target = records[0]?.id ?? ''
    const patched = await control<{ record: { status: string } }>('PATCH', `/accounts/${accountId}/contact/${target}`, { status: 'cleaned' })
    assert.equal(patched.record.status, 'cleaned')
    await control('DELETE', `/accounts/${accountId}/contact/${target}?permanent=true`)
    assert.equal((await control<{ records: unknown[] }>('GET', `/accounts/${accountId}/contact`)).records.length, 52)
    assert.equal((await fetch(`${base}/_sim/accounts/${accountId}/contact/${target}`, { method: 'DELETE' })).status, 404)
    assert.equal((await fetch(`${base}/_sim/accounts/lookup?credential=bad`)).status, 400)
  })

  test('the Date header follows the simulated clock', async () => {
    const before = Date.parse((await fetch(`${base}/3.0/ping`, { headers: { authorization: basic(newKey()) } })).headers.get('date') ?? '')
    await control('POST', '/clock', { advanceSeconds: 3600 })
    const after = Date.parse((await fetch(`${base}/3.0/ping`, { headers: { authorization: basic(newKey()) } })).headers.get('date') ?? '')
    assert.ok(after - before >= 3600_000, `${after - before}`)
  })
})

describe('faults', () => {
  test('rate_limit is a bare 429 problem without Retry-After; server_error a 500', async () => {
    const key = newKey()
    const accountId = await accountOf(key)
    await control('POST', '/faults', { kind: 'rate_limit', account: accountId, times: 1, retryAfterSeconds: 7 })
    const limited = await api(key, '/lists')
    assert.equal(limited.status, 429)
    assert.equal(limited.headers.get('retry-after'), null)
    assert.match(limited.headers.get('content-type') ?? '', /^application\/problem\+json/)
    assertProblem(await json(limited), 429, 'Too Many Requests')
    assert.equal((await api(key, '/lists')).status, 200)
    await control('POST', '/faults', { kind: 'server_error', account: accountId, times: 1, pathIncludes: '/members' })
    assert.equal((await api(key, '/lists')).status, 200)
    const [list] = await lists(key)
    const failed = await api(key, `/lists/${list?.id}/members`)
    assert.equal(failed.status, 500)
    assertProblem(await json(failed), 500, 'Internal Server Error')
    const served = await control<{ served: Array<{ kind: string; path: string }> }>('GET', '/faults/served')
    assert.deepEqual(
      served.served.slice(-2).map((fault) => fault.kind),
      ['rate_limit', 'server_error'],
    )
  })

  test('expired_token looks like a revoked key, slow delays, reset drops the connection', async () => {
    const key = newKey()
    const accountId = await accountOf(key)
    await control('POST', '/faults', { kind: 'expired_token', account: accountId, times: 1 })
    assertProblem(await json(await api(key, '/ping')), 401, 'API Key Invalid')
    await control('POST', '/faults', { kind: 'slow', account: accountId, times: 1, delayMs: 400 })
    const started = Date.now()
    assert.equal((await api(key, '/ping')).status, 200)
    assert.ok(Date.now() - started >= 380)
    await control('POST', '/faults', { kind: 'reset', account: accountId, times: 1 })
    await assert.rejects(api(key, '/ping'))
    assert.equal((await api(key, '/ping')).status, 200)
  })

  test('enforceRateLimits caps simultaneous connections at 10 per account', async () => {
    const limited = createMailchimpSimulator({ enforceRateLimits: true })
    const url = await limited.listen({ port: 0, host: '127.0.0.1' })
    try {
      const key = newKey()
      const accountId = (await (await fetch(`${url}/_sim/accounts/lookup?credential=${key}`)).json()) as { accountId: string }
      await fetch(`${url}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'slow', account: accountId.accountId, times: 10, delayMs: 1500 }) })
      const statuses = await Promise.all(Array.from({ length: 12 }, () => fetch(`${url}/3.0/ping`, { headers: { authorization: basic(key) } }).then((response) => response.status)))
      assert.equal(statuses.filter((status) => status === 200).length, 10)
      assert.equal(statuses.filter((status) => status === 429).length, 2)
      // Another account is not affected, and slots free up once responses finish.
      assert.equal((await fetch(`${url}/3.0/ping`, { headers: { authorization: basic(newKey()) } })).status, 200)
      assert.equal((await fetch(`${url}/3.0/ping`, { headers: { authorization: basic(key) } })).status, 200)
    } finally {
      await limited.close()
    }
  })
})

describe('list webhooks', () => {
  test('registration validates the URL with a GET; events are form-encoded and unsigned', async () => {
    const hook = await receiver()
    try {
      const key = newKey()
      const accountId = await accountOf(key)
      const [list] = await lists(key)
      const listId = list?.id ?? ''
      const broken = await api(key, `/lists/${listId}/webhooks`, { method: 'POST', body: JSON.stringify({ url: `${hook.url}/broken` }) })
      assert.equal(broken.status, 400)
      assertProblem(await json(broken), 400, 'Invalid Resource')
      const url = `${hook.url}/hooks/mailchimp?secret=s3cr3t`
      const created = await json<{ id: string; url: string; events: Record<string, boolean> }>(
        await api(key, `/lists/${listId}/webhooks`, { method: 'POST', body: JSON.stringify({ url, events: { campaign: false }, sources: { api: true } }) }),
      )
      assert.match(created.id, /^[0-9a-f]{10}$/)
      assert.equal(created.events.subscribe, true)
      assert.equal(created.events.campaign, false)
      const validation = hook.hits.find((hit) => hit.url === '/hooks/mailchimp?secret=s3cr3t')
      assert.equal(validation?.method, 'GET')
      const duplicate = await api(key, `/lists/${listId}/webhooks`, { method: 'POST', body: JSON.stringify({ url }) })
      assert.equal(duplicate.status, 400)
      const listed = await json<{ webhooks: Array<{ id: string }>; total_items: number }>(await api(key, `/lists/${listId}/webhooks`))
      assert.deepEqual(
        listed.webhooks.map((webhook) => webhook.id),
        [created.id],
      )
      const registered = await control<{ webhooks: Array<{ id: string; accountId: string }> }>('GET', `/webhooks?accountId=${accountId}`)
      assert.deepEqual(
        registered.webhooks.map((webhook) => webhook.id),
        [created.id],
      )

      const [member] = await walk(key, listId, '', 1)
      const fired = await control<{ sent: Array<{ url: string; status: number; body: string }> }>('POST', '/webhooks/fire', {
        accountId,
        type: 'subscribe',
        objectId: `${listId}:${member?.id}`,
      })
      assert.equal(fired.sent.length, 1)
      assert.equal(fired.sent[0]?.status, 200)
      const post = hook.hits.at(-1)
      assert.equal(post?.method, 'POST')
      assert.equal(post?.url, '/hooks/mailchimp?secret=s3cr3t')
      assert.equal(post?.headers['content-type'], 'application/x-www-form-urlencoded')
      assert.equal(post?.headers['user-agent'], 'MailChimp')
      assert.equal(post?.headers['x-mailchimp-signature'], undefined)
      const form = new URLSearchParams(post?.body)
      assert.equal(form.get('type'), 'subscribe')
      assert.match(form.get('fired_at') ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
      assert.equal(form.get('data[list_id]'), listId)
      assert.equal(form.get('data[email]'), member?.email_address)
      assert.equal(form.get('data[merges][FNAME]'), member?.merge_fields.FNAME)
      assert.match(form.get('data[id]') ?? '', /^[0-9a-f]{10}$/)
      const none = await control<{ sent: unknown[] }>('POST', '/webhooks/fire', { accountId, type: 'campaign', objectId: `${listId}:${member?.id}` })
      assert.equal(none.sent.length, 0)

      assert.equal((await api(key, `/lists/${listId}/webhooks/${created.id}`, { method: 'DELETE' })).status, 204)
      assert.equal((await api(key, `/lists/${listId}/webhooks/${created.id}`, { method: 'DELETE' })).status, 404)
    } finally {
      hook.server.close()
    }
  })
})

describe('OAuth', () => {
  test('authorize → code → token that never expires → metadata → API calls', async () => {
    const authorize = await fetch(`${base}/oauth2/authorize?response_type=code&client_id=hub&redirect_uri=${encodeURIComponent('https://hub.example/cb')}&state=xyz`, {
      redirect: 'manual',
    })
    assert.equal(authorize.status, 302)
    const location = new URL(authorize.headers.get('location') ?? '')
    assert.equal(location.origin + location.pathname, 'https://hub.example/cb')
    assert.equal(location.searchParams.get('state'), 'xyz')
    const code = location.searchParams.get('code') ?? ''
    const form = { grant_type: 'authorization_code', client_id: 'hub', client_secret: 'shh', redirect_uri: 'https://hub.example/cb', code }
    const exchange = async (fields: Record<string, string>): Promise<Response> =>
      fetch(`${base}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() })
    const tokenResponse = await exchange(form)
    assert.equal(tokenResponse.status, 200)
    const token = await json<Record<string, unknown>>(tokenResponse)
    assert.match(String(token.access_token), /^[0-9a-f]{32}$/)
    assert.equal(token.expires_in, 0)
    assert.equal(token.refresh_token, undefined)
    assert.equal((await exchange(form)).status, 400)
    assert.equal((await exchange({ ...form, grant_type: 'refresh_token' })).status, 400)

    const metadata = await json<{ dc: string; api_endpoint: string; accountname: string; login: { login_id: number } }>(await fetch(`${base}/oauth2/metadata`, { headers: { authorization: `OAuth ${String(token.access_token)}` } }))
    assert.equal(metadata.dc, 'us21')
    assert.equal(metadata.api_endpoint, base)
    assert.equal((await fetch(`${base}/oauth2/metadata`, { headers: { authorization: 'OAuth nope' } })).status, 401)
    const root = await json<{ account_name: string }>(await api('', '/', { headers: { authorization: `Bearer ${String(token.access_token)}` } }))
    assert.equal(root.account_name, metadata.accountname)
    assert.equal((await api('', '/ping', { headers: { authorization: `OAuth ${String(token.access_token)}` } })).status, 200)
  })

  test('a configured token lifetime (not Mailchimp behaviour) makes tokens fail like revoked ones', async () => {
    await control('POST', '/oauth/config', { accessTokenTtlSeconds: 60 })
    try {
      const authorize = await fetch(`${base}/oauth2/authorize?response_type=code&client_id=hub&redirect_uri=${encodeURIComponent('https://hub.example/cb')}&login=ttl-user`, {
        redirect: 'manual',
      })
      const code = new URL(authorize.headers.get('location') ?? '').searchParams.get('code') ?? ''
      const body = new URLSearchParams({ grant_type: 'authorization_code', client_id: 'hub', client_secret: 'shh', redirect_uri: 'https://hub.example/cb', code })
      const token = await json<{ access_token: string; expires_in: number }>(await fetch(`${base}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() }))
      assert.equal(token.expires_in, 60)
      const bearer = { headers: { authorization: `Bearer ${token.access_token}` } }
      assert.equal((await api('', '/ping', bearer)).status, 200)
      await control('POST', '/clock', { advanceSeconds: 61 })
      const expired = await api('', '/ping', bearer)
      assert.equal(expired.status, 401)
      assertProblem(await json(expired), 401, 'API Key Invalid')
    } finally {
      await control('POST', '/oauth/config', { accessTokenTtlSeconds: null })
    }
  })
})
