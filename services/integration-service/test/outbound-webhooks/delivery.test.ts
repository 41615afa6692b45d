// Tenant webhooks end to end in one process: endpoints through the API, events handed to fanOut as
// the bus's consumer would (integration.endpoint.disabled comes through the real bus), deliveries made by the worker's processor to real HTTP receivers that
// verify them with the registry's `standardwebhooks` package.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { hubEventProblem } from '@hub/contracts'
import { eventually, setupHooksRig, startReceiver } from './hooks-rig.ts'
import { publishEvent } from '../../src/plugins/app/events/event-outbox-repository.ts'
import type { EndpointRow } from '../../src/plugins/app/outbound-webhooks/outbound-webhook-repository.ts'
import { endpointDisabledEvent } from '../../src/plugins/app/outbound-webhooks/outbound-webhook-service.ts'
import { OUTBOUND_WEBHOOK_QUEUE } from '../../src/plugins/app/outbound-webhooks/outbound-webhook-queue.ts'
import { QUEUES } from '../../src/plugins/app/sync/sync-queues.ts'

const rig = await setupHooksRig()

interface Endpoint {
  id: string
  secret?: string
  enabled: boolean
  disabledReason: string | null
  previousSecretExpiresAt: string | null
}
interface Message {
  id: string
  eventId: string
  status: string
  attempts: number
  lastError: string | null
}
interface Page<T> {
  data: T[]
  nextCursor: string | null
}

async function register(app: Awaited<ReturnType<typeof rig.build>>['app'], tenantId: string, body: Record<string, unknown>): Promise<Endpoint & { secret: string }> {
  const response = await app.inject({ method: 'POST', url: '/api/v1/integrations/webhook-endpoints', headers: rig.admin(tenantId), payload: body })
  assert.equal(response.statusCode, 201, response.body)
  return response.json()
}

async function messagesOf(app: Awaited<ReturnType<typeof rig.build>>['app'], tenantId: string, endpointId: string, query = ''): Promise<Page<Message>> {
  const response = await app.inject({ method: 'GET', url: `/api/v1/integrations/webhook-endpoints/${endpointId}/messages?limit=200${query}`, headers: rig.admin(tenantId) })
  assert.equal(response.statusCode, 200, response.body)
  return response.json()
}

test('every delivery verifies with standardwebhooks, also with the old and the new secret during a rotation overlap', async (t) => {
  const receiver = await startReceiver()
  const { app, logs } = await rig.build(t, { OUTBOUND_WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${receiver.port}` })
  const tenantId = randomUUID()
  const venueId = randomUUID()
  const endpoint = await register(app, tenantId, { url: `${receiver.url}?token=tenant-query-token-4711`, eventTypes: ['integration.sync.completed', 'integration.sync.failed'] })
  assert.match(endpoint.secret, /^whsec_[A-Za-z0-9+/]+=*$/)
  const first = endpoint.secret

  const one = rig.event(tenantId, venueId)
  await app.outboundWebhooks.fanOut(one)
  const d1 = await eventually(() => receiver.deliveries.find((d) => d.event.id === one.id), 'the first delivery')
  assert.deepEqual(receiver.verify(d1, first), one)
  assert.equal(d1.signature.split(' ').length, 1)
  assert.ok(Math.abs(Number(d1.timestamp) - Date.now() / 1000) < 300)

  const rotated = await app.inject({ method: 'POST', url: `/api/v1/integrations/webhook-endpoints/${endpoint.id}/rotate-secret`, headers: rig.admin(tenantId), payload: { overlapSeconds: 3600 } })
  assert.equal(rotated.statusCode, 200, rotated.body)
  const second = (rotated.json() as Endpoint & { secret: string }).secret
  assert.notEqual(second, first)
  assert.ok((rotated.json() as Endpoint).previousSecretExpiresAt)

  const two = rig.event(tenantId, venueId, 'integration.sync.failed', { error: 'provider outage' })
  await app.outboundWebhooks.fanOut(two)
  const d2 = await eventually(() => receiver.deliveries.find((d) => d.event.id === two.id), 'the delivery during the overlap')
  // Two `v1,` entries: a receiver still on the old secret and one already on the new both accept it.
  assert.equal(d2.signature.split(' ').length, 2)
  assert.deepEqual(receiver.verify(d2, first), two)
  assert.deepEqual(receiver.verify(d2, second), two)

  const ended = await app.inject({ method: 'POST', url: `/api/v1/integrations/webhook-endpoints/${endpoint.id}/rotate-secret`, headers: rig.admin(tenantId), payload: { overlapSeconds: 0 } })
  const third = (ended.json() as Endpoint & { secret: string }).secret
  assert.equal((ended.json() as Endpoint).previousSecretExpiresAt, null)
  const three = rig.event(tenantId, venueId)
  await app.outboundWebhooks.fanOut(three)
  const d3 = await eventually(() => receiver.deliveries.find((d) => d.event.id === three.id), 'the delivery after the overlap')
  assert.deepEqual(receiver.verify(d3, third), three)
  assert.throws(() => receiver.verify(d3, second), /signature/i)

  // The secret is shown at creation and rotation only: never read back, never logged, never stored in clear.
  const read = await app.inject({ method: 'GET', url: `/api/v1/integrations/webhook-endpoints/${endpoint.id}`, headers: rig.admin(tenantId) })
  assert.equal(read.statusCode, 200)
  for (const secret of [first, second, third]) {
    assert.ok(!read.body.includes(secret))
    assert.ok(!logs.join('\n').includes(secret.slice(6)))
  }
  const stored = await rig.db.adminQuery<{ secrets: string }>('select secrets::text as secrets from integration.webhook_endpoints where id = $1', [endpoint.id])
  assert.ok(!stored[0]?.secrets.includes(third.slice(6)))
  const audited = await rig.db.adminQuery<{ body: string }>("select row_to_json(o)::text as body from integration.audit_outbox o where tenant_id = $1 and entity_type = 'webhook_endpoint'", [tenantId])
  assert.ok(audited.length >= 3)
  for (const secret of [first, second, third]) assert.ok(!audited.some((row) => row.body.includes(secret.slice(6))))
  assert.ok(!audited.some((row) => row.body.includes('tenant-query-token-4711')))
})

test('fanOut of the same event twice (and at once) stores one message and delivers it once; a replay sends it again with the same id', async (t) => {
  const receiver = await startReceiver()
  const { app } = await rig.build(t, { OUTBOUND_WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${receiver.port}` })
  const tenantId = randomUUID()
  const venueId = randomUUID()
  const endpoint = await register(app, tenantId, { url: receiver.url, eventTypes: ['integration.records.changed'], venueId })
  // Another venue's endpoint and an endpoint of another type hear nothing of it.
  const otherVenue = await register(app, tenantId, { url: receiver.url, eventTypes: ['integration.records.changed'], venueId: randomUUID() })
  const otherType = await register(app, tenantId, { url: receiver.url, eventTypes: ['integration.sync.started'] })

  const event = rig.event(tenantId, venueId, 'integration.records.changed', { ids: { customers: ['c1', 'c2'] } })
  const results = await Promise.all([app.outboundWebhooks.fanOut(event), app.outboundWebhooks.fanOut(event)])
  assert.deepEqual(
    results.map((r) => r.messages),
    [1, 1],
  )
  await app.outboundWebhooks.fanOut(event)
  await eventually(async () => (await messagesOf(app, tenantId, endpoint.id)).data[0]?.status === 'succeeded', 'the message delivered')
  // Let the queue settle: nothing else is waiting for this event.
  await eventually(async () => {
    const counts = await app.outboundWebhookInternals.queue.queue.getJobCounts()
    return counts.waiting + counts.active + counts.delayed === 0
  }, 'an idle delivery queue')
  assert.equal(receiver.deliveries.filter((d) => d.event.id === event.id).length, 1)
  assert.equal(await rig.count('integration.webhook_messages where event_id = $1', [event.id]), 1)
  assert.equal((await messagesOf(app, tenantId, otherVenue.id)).data.length, 0)
  assert.equal((await messagesOf(app, tenantId, otherType.id)).data.length, 0)

  const [message] = (await messagesOf(app, tenantId, endpoint.id)).data
  assert.ok(message)
  const replay = await app.inject({ method: 'POST', url: `/api/v1/integrations/webhook-endpoints/${endpoint.id}/messages/${message.id}/replay`, headers: rig.admin(tenantId) })
  assert.equal(replay.statusCode, 202, replay.body)
  await eventually(() => receiver.deliveries.filter((d) => d.event.id === event.id).length === 2, 'the replayed delivery')
  const copies = receiver.deliveries.filter((d) => d.event.id === event.id)
  assert.equal(copies[0]?.id, copies[1]?.id)
  assert.equal(copies[0]?.id, message.id)
  await eventually(async () => (await messagesOf(app, tenantId, endpoint.id)).data[0]?.attempts === 2, 'two attempts recorded')
})

test('a receiver down for "an hour" (compressed: the spec schedule / 3600, so 1 s) gets every message once it is back', async (t) => {
  const receiver = await startReceiver()
  const { app } = await rig.build(t, { OUTBOUND_WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${receiver.port}` })
  const tenantId = randomUUID()
  const venueId = randomUUID()
  const endpoint = await register(app, tenantId, { url: receiver.url, eventTypes: ['integration.sync.completed'] })

  receiver.setMode('down')
  const downSince = Date.now()
  const events = Array.from({ length: 6 }, () => rig.event(tenantId, venueId))
  for (const event of events) await app.outboundWebhooks.fanOut(event)
  // Down for the compressed hour, and every message tried and failed more than once meanwhile.
  await eventually(async () => {
    const page = await messagesOf(app, tenantId, endpoint.id)
    return Date.now() - downSince >= 1000 && page.data.length === events.length && page.data.every((m) => m.attempts >= 3 && m.status === 'pending')
  }, 'the messages retried while the receiver is down')
  assert.equal(receiver.deliveries.length, 0)

  receiver.setMode('up')
  await eventually(async () => (await messagesOf(app, tenantId, endpoint.id)).data.every((m) => m.status === 'succeeded'), 'every message delivered after the receiver returned', 60_000)
  const received = new Set(receiver.deliveries.map((d) => d.event.id))
  for (const event of events) assert.ok(received.has(event.id), `event ${event.id} was delivered`)

  // The attempts of one message: failures (no answer) then one success, newest first, with cursors.
  const [message] = (await messagesOf(app, tenantId, endpoint.id)).data
  assert.ok(message)
  // Every retry carried the same webhook-id: the message's id (what a receiver deduplicates on).
  assert.equal(receiver.requestIds.filter((id) => id === message.id).length, message.attempts)
  const attemptsUrl = `/api/v1/integrations/webhook-endpoints/${endpoint.id}/messages/${message.id}/attempts`
  const all = (await app.inject({ method: 'GET', url: `${attemptsUrl}?limit=200`, headers: rig.admin(tenantId) })).json() as Page<{ outcome: string; attemptNumber: number; error: string | null; responseStatus: number | null }>
  assert.equal(all.data[0]?.outcome, 'succeeded')
  assert.equal(all.data[0]?.responseStatus, 204)
  assert.ok(all.data.slice(1).every((a) => a.outcome === 'failed' && a.error?.startsWith('connection failed')))
  assert.deepEqual(
    all.data.map((a) => a.attemptNumber),
    Array.from({ length: all.data.length }, (_, i) => all.data.length - i),
  )
  const failed = (await app.inject({ method: 'GET', url: `${attemptsUrl}?outcome=failed&limit=1`, headers: rig.admin(tenantId) })).json() as Page<{ outcome: string }>
  assert.equal(failed.data.length, 1)
  assert.ok(failed.nextCursor)
  const next = (await app.inject({ method: 'GET', url: `${attemptsUrl}?outcome=failed&limit=200&cursor=${failed.nextCursor}`, headers: rig.admin(tenantId) })).json() as Page<{ outcome: string }>
  assert.equal(next.data.length, all.data.length - 2)
})

test('an endpoint that keeps failing is disabled, and integration.endpoint.disabled reaches the tenant', async (t) => {
  const failing = await startReceiver()
  const watcher = await startReceiver()
  failing.setMode('error')
  const { app } = await rig.build(t, {
    OUTBOUND_WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${failing.port},127.0.0.1:${watcher.port}`,
    OUTBOUND_WEBHOOK_DISABLE_AFTER_FAILURES: '4',
    OUTBOUND_WEBHOOK_DISABLE_AFTER_MS: '0',
    OUTBOUND_WEBHOOK_RETRY_SCHEDULE: '0ms,10ms,10ms',
  })
  const tenantId = randomUUID()
  const venueId = randomUUID()
  const bad = await register(app, tenantId, { url: failing.url, eventTypes: ['integration.sync.completed'] })
  const ops = await register(app, tenantId, { url: watcher.url, eventTypes: ['integration.endpoint.disabled'] })

  for (let i = 0; i < 3; i += 1) await app.outboundWebhooks.fanOut(rig.event(tenantId, venueId))
  const notice = await eventually(() => watcher.deliveries.find((d) => d.event.type === 'integration.endpoint.disabled'), 'the endpoint.disabled event at the watcher')
  assert.deepEqual(watcher.verify(notice, ops.secret), notice.event)
  assert.equal(notice.event.tenantId, tenantId)
  assert.equal(notice.event.data.endpointId, bad.id)
  assert.equal(notice.event.data.reason, 'failing')
  assert.equal(notice.event.sequence, 1)
  // An endpoint of every venue: the event names the tenant as its venue (see the catalogue).
  assert.equal(notice.event.venueId, tenantId)
  assert.equal(notice.event.connectionId, null)
  assert.equal(notice.event.data.venueFilter, null)
  assert.equal(hubEventProblem(notice.event), null)

  const read = (await app.inject({ method: 'GET', url: `/api/v1/integrations/webhook-endpoints/${bad.id}`, headers: rig.admin(tenantId) })).json() as Endpoint
  assert.equal(read.enabled, false)
  assert.equal(read.disabledReason, 'failing')
  // Written to the event outbox with the change, brought back to fanOut by the bus: once each.
  assert.equal(await rig.count("integration.event_outbox where tenant_id = $1 and type = 'integration.endpoint.disabled'", [tenantId]), 1)
  assert.equal(await rig.count('integration.webhook_messages where event_id = $1', [notice.event.id]), 1)
  // Nothing more is attempted; every message ends failed, its answer kept short.
  await eventually(async () => (await messagesOf(app, tenantId, bad.id)).data.every((m) => m.status === 'failed'), 'the failing messages settled')
  const snippets = await rig.db.adminQuery<{ n: number }>('select max(length(response_snippet)) as n from integration.webhook_attempts where endpoint_id = $1', [bad.id])
  assert.equal(snippets[0]?.n, 1024)

  const [message] = (await messagesOf(app, tenantId, bad.id)).data
  const replay = await app.inject({ method: 'POST', url: `/api/v1/integrations/webhook-endpoints/${bad.id}/messages/${message?.id}/replay`, headers: rig.admin(tenantId) })
  assert.equal(replay.statusCode, 409)
  assert.equal(replay.json().code, 'WEBHOOK_ENDPOINT_DISABLED')

  // Fixed and enabled again: a replay now gets through.
  failing.setMode('up')
  const enabled = await app.inject({ method: 'PATCH', url: `/api/v1/integrations/webhook-endpoints/${bad.id}`, headers: rig.admin(tenantId), payload: { enabled: true } })
  assert.equal((enabled.json() as Endpoint).enabled, true)
  const again = await app.inject({ method: 'POST', url: `/api/v1/integrations/webhook-endpoints/${bad.id}/messages/${message?.id}/replay`, headers: rig.admin(tenantId) })
  assert.equal(again.statusCode, 202)
  await eventually(() => failing.deliveries.some((d) => d.id === message?.id), 'the replay after enabling')
})

test("endpoint.disabled names the endpoint's venue, or the tenant for an endpoint of every venue, and reaches only the endpoints that event concerns", async (t) => {
  const forVenue = await startReceiver()
  const forAll = await startReceiver()
  const { app } = await rig.build(t, { OUTBOUND_WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${forVenue.port},127.0.0.1:${forAll.port}` })
  const tenantId = randomUUID()
  const venueId = randomUUID()
  await register(app, tenantId, { url: forVenue.url, eventTypes: ['integration.endpoint.disabled'], venueId })
  await register(app, tenantId, { url: forAll.url, eventTypes: ['integration.endpoint.disabled'] })
  const row = (venue: string | null): EndpointRow => {
    const now = new Date()
    return {
      id: randomUUID(),
      tenant_id: tenantId,
      url: 'https://example.com/',
      description: '',
      event_types: [],
      venue_id: venue,
      enabled: false,
      disabled_reason: 'failing',
      disabled_at: now,
      secrets: {},
      min_key_version: null,
      previous_secret_expires_at: null,
      consecutive_failures: 20,
      failing_since: now,
      created_at: now,
      updated_at: now,
    }
  }
  // publishEvent refuses an event the catalogue does not accept: both pass.
  const [ofVenue, ofAll] = await app.db.withTenant(tenantId, async (trx) => [await publishEvent(trx, endpointDisabledEvent(row(venueId))), await publishEvent(trx, endpointDisabledEvent(row(null)))])
  assert.equal(ofVenue?.venueId, venueId)
  assert.equal(ofVenue?.data.venueFilter, venueId)
  assert.equal(ofAll?.venueId, tenantId)
  assert.equal(ofAll?.data.venueFilter, null)

  // The venue's event reaches both endpoints; the tenant-wide one only the endpoint of every venue.
  await eventually(() => forAll.deliveries.length === 2, 'both events at the endpoint of every venue')
  await eventually(() => forVenue.deliveries.length === 1, "the venue's event at the venue's endpoint")
  assert.equal(forVenue.deliveries[0]?.event.id, ofVenue?.id)
  // The tenant-wide event is the first of its scope (the tenant): the relay numbered it 1.
  assert.equal(forAll.deliveries.find((d) => d.event.id === ofAll?.id)?.event.sequence, 1)
  assert.equal(await rig.count('integration.webhook_messages where event_id = $1', [ofAll?.id]), 1)
})

test('the API: a test ping, cursors, filters, tenant isolation and bad input as problems', async (t) => {
  const receiver = await startReceiver()
  const { app } = await rig.build(t, { OUTBOUND_WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${receiver.port}` })
  const tenantId = randomUUID()
  const endpoint = await register(app, tenantId, { url: receiver.url, eventTypes: ['integration.sync.completed'], description: 'back office' })

  const ping = await app.inject({ method: 'POST', url: `/api/v1/integrations/webhook-endpoints/${endpoint.id}/test`, headers: rig.admin(tenantId) })
  assert.equal(ping.statusCode, 202, ping.body)
  const pinged = await eventually(() => receiver.deliveries.find((d) => (d.event as { type: string }).type === 'webhook.ping'), 'the ping')
  assert.ok(receiver.verify(pinged, endpoint.secret))

  for (let i = 0; i < 5; i += 1) await app.outboundWebhooks.fanOut(rig.event(tenantId, randomUUID()))
  await eventually(async () => (await messagesOf(app, tenantId, endpoint.id, '&status=succeeded')).data.length === 6, 'six delivered messages')
  const seen = new Set<string>()
  let cursor: string | null = null
  do {
    const query: string = `?limit=2&eventType=integration.sync.completed${cursor ? `&cursor=${cursor}` : ''}`
    const response = await app.inject({ method: 'GET', url: `/api/v1/integrations/webhook-endpoints/${endpoint.id}/messages${query}`, headers: rig.admin(tenantId) })
    const body = response.json() as Page<Message>
    for (const message of body.data) seen.add(message.id)
    cursor = body.nextCursor
  } while (cursor)
  assert.equal(seen.size, 5)

  const list = (await app.inject({ method: 'GET', url: '/api/v1/integrations/webhook-endpoints', headers: rig.admin(tenantId) })).json() as Page<Endpoint>
  assert.deepEqual(
    list.data.map((e) => e.id),
    [endpoint.id],
  )

  // Another tenant sees none of it.
  const stranger = randomUUID()
  const foreign = await app.inject({ method: 'GET', url: `/api/v1/integrations/webhook-endpoints/${endpoint.id}/messages`, headers: rig.admin(stranger) })
  assert.equal(foreign.statusCode, 404)
  assert.equal(foreign.json().code, 'WEBHOOK_ENDPOINT_NOT_FOUND')
  assert.equal(((await app.inject({ method: 'GET', url: '/api/v1/integrations/webhook-endpoints', headers: rig.admin(stranger) })).json() as Page<Endpoint>).data.length, 0)

  const cases: Array<[string, string, unknown, number, string]> = [
    ['GET', `/api/v1/integrations/webhook-endpoints/${endpoint.id}/messages?cursor=not-a-cursor`, undefined, 400, 'INVALID_CURSOR'],
    ['POST', '/api/v1/integrations/webhook-endpoints', { url: receiver.url, eventTypes: ['integration.nope'] }, 400, 'VALIDATION_FAILED'],
    ['POST', '/api/v1/integrations/webhook-endpoints', { url: 'ftp://example.com/x', eventTypes: ['integration.sync.failed'] }, 400, 'VALIDATION_FAILED'],
    ['PATCH', `/api/v1/integrations/webhook-endpoints/${endpoint.id}`, {}, 400, 'VALIDATION_FAILED'],
    ['POST', `/api/v1/integrations/webhook-endpoints/${endpoint.id}/rotate-secret`, { overlapSeconds: -1 }, 400, 'VALIDATION_FAILED'],
    ['POST', `/api/v1/integrations/webhook-endpoints/${randomUUID()}/test`, undefined, 404, 'WEBHOOK_ENDPOINT_NOT_FOUND'],
    ['POST', `/api/v1/integrations/webhook-endpoints/${endpoint.id}/messages/${randomUUID()}/replay`, undefined, 404, 'WEBHOOK_MESSAGE_NOT_FOUND'],
  ]
  for (const [method, url, payload, status, code] of cases) {
    const response = await app.inject({ method: method as 'GET', url, headers: rig.admin(tenantId), ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}) })
    assert.equal(response.statusCode, status, `${method} ${url}: ${response.body}`)
    assert.equal(response.headers['content-type'], 'application/problem+json')
    assert.equal(response.json().code, code)
  }
  // Managers and viewers do not manage the tenant's endpoints.
  const { bearer, testToken } = await import('@hub/service-kit/testing')
  const manager = await app.inject({ method: 'GET', url: '/api/v1/integrations/webhook-endpoints', headers: bearer(testToken({ tenantId, roles: ['manager'] })) })
  assert.equal(manager.statusCode, 403)

  const removed = await app.inject({ method: 'DELETE', url: `/api/v1/integrations/webhook-endpoints/${endpoint.id}`, headers: rig.admin(tenantId) })
  assert.equal(removed.statusCode, 204)
  assert.equal(await rig.count('integration.webhook_messages where endpoint_id = $1', [endpoint.id]), 0)
})

test('a receiver that never answers costs one timeout per attempt, recorded as such', async (t) => {
  const receiver = await startReceiver()
  receiver.setMode('hang')
  const { app } = await rig.build(t, { OUTBOUND_WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${receiver.port}`, OUTBOUND_WEBHOOK_TIMEOUT_MS: '300', OUTBOUND_WEBHOOK_RETRY_SCHEDULE: '0ms' })
  const tenantId = randomUUID()
  const endpoint = await register(app, tenantId, { url: receiver.url, eventTypes: ['integration.sync.completed'] })
  await app.outboundWebhooks.fanOut(rig.event(tenantId, randomUUID()))
  const [message] = await eventually(async () => {
    const page = await messagesOf(app, tenantId, endpoint.id)
    return page.data[0]?.status === 'failed' ? page.data : undefined
  }, 'the message failed after its one attempt')
  assert.match(message?.lastError ?? '', /timed out after 300 ms/)
})

test('a 200 whose body holds a NUL byte is delivered once, its attempt recorded (Postgres text refuses NUL)', async (t) => {
  const receiver = await startReceiver()
  receiver.setMode({ answer: Buffer.from('ok\0', 'latin1') })
  const { app } = await rig.build(t, { OUTBOUND_WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${receiver.port}` })
  const tenantId = randomUUID()
  const endpoint = await register(app, tenantId, { url: receiver.url, eventTypes: ['integration.sync.completed'] })
  const event = rig.event(tenantId, randomUUID())
  await app.outboundWebhooks.fanOut(event)
  // Unrecorded, the attempt would leave the message pending and the sweeper would send it again after every lease.
  const [message] = await eventually(async () => {
    const page = await messagesOf(app, tenantId, endpoint.id)
    return page.data[0]?.status === 'succeeded' ? page.data : undefined
  }, 'the message delivered and settled')
  assert.equal(message?.attempts, 1)
  await eventually(async () => {
    const counts = await app.outboundWebhookInternals.queue.queue.getJobCounts()
    return counts.waiting + counts.active + counts.delayed === 0
  }, 'an idle delivery queue')
  assert.equal(receiver.deliveries.filter((d) => d.event.id === event.id).length, 1)
  const attempts = await rig.db.adminQuery<{ outcome: string; response_status: number; response_snippet: string }>('select outcome, response_status, response_snippet from integration.webhook_attempts where message_id = $1', [message?.id])
  assert.deepEqual(attempts, [{ outcome: 'succeeded', response_status: 200, response_snippet: 'ok\uFFFD' }])
})

test('messages whose jobs Redis lost are delivered anyway: the schedule lives in Postgres and the sweeper enqueues what is due', async (t) => {
  const receiver = await startReceiver()
  const { app } = await rig.build(t, { OUTBOUND_WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${receiver.port}` }, { process: false })
  const tenantId = randomUUID()
  const endpoint = await register(app, tenantId, { url: receiver.url, eventTypes: ['integration.sync.completed'] })
  const events = [rig.event(tenantId, randomUUID()), rig.event(tenantId, randomUUID())]
  for (const event of events) await app.outboundWebhooks.fanOut(event)
  // Redis loses the queue before any worker ran it.
  await app.outboundWebhookInternals.queue.queue.obliterate({ force: true })
  assert.equal((await app.outboundWebhookInternals.queue.queue.getJobCounts()).waiting, 0)
  app.outboundWebhookInternals.start()
  await eventually(async () => (await messagesOf(app, tenantId, endpoint.id)).data.every((m) => m.status === 'succeeded'), 'both messages delivered by way of the sweeper')
  assert.deepEqual(new Set(receiver.deliveries.map((d) => d.event.id)), new Set(events.map((e) => e.id)))
})

test('deliveries have a queue of their own, apart from the four sync queues', () => {
  assert.ok(!Object.values(QUEUES).includes(OUTBOUND_WEBHOOK_QUEUE as never))
  assert.equal(OUTBOUND_WEBHOOK_QUEUE, 'integration-webhooks-out')
})
