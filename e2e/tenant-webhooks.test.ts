// Tenant webhooks across processes: endpoints managed through the gateway (integration-service's
// API process), a sync's events relayed to the bus and fanned out by the integration-worker's
// `tenant-webhooks` consumer, deliveries made by the worker from its own queue, received by a local
// receiver that verifies each with the registry's `standardwebhooks` package. Every wait is a poll.
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after } from 'node:test'
import { Webhook } from 'standardwebhooks'
import { hub } from './support/hub.ts'
import { eventually, scenario, startStack, type Json } from './support/stack.ts'

interface Received {
  id: string
  path: string
  body: string
  headers: Record<string, string>
}
const received: Received[] = []
const receiver = createServer((request, response) => {
  const chunks: Buffer[] = []
  request.on('data', (chunk: Buffer) => chunks.push(chunk))
  request.on('end', () => {
    const header = (name: string) => String(request.headers[name] ?? '')
    received.push({
      id: header('webhook-id'),
      path: request.url ?? '',
      body: Buffer.concat(chunks).toString('utf8'),
      headers: { 'webhook-id': header('webhook-id'), 'webhook-timestamp': header('webhook-timestamp'), 'webhook-signature': header('webhook-signature') },
    })
    response.writeHead(204).end()
  })
})
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
after(() => new Promise<void>((resolve) => receiver.close(() => resolve())))
const receiverPort = (receiver.address() as AddressInfo).port

// Only this receiver may be a loopback address; everything else private stays refused.
const stack = await startStack({
  env: { OUTBOUND_WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${receiverPort}`, OUTBOUND_WEBHOOK_SWEEP_INTERVAL_MS: '1000' },
  // A ceiling, not a wait: on a box at load 40+ integration-service's start-up has taken over 4 minutes.
  readyTimeoutMs: 540_000,
})
const api = hub(stack)
const base = '/api/v1/integrations/webhook-endpoints'

scenario('an endpoint registered through the gateway gets a signed ping from the worker, and a replay of it', async () => {
  const endpoint = await api.ok('POST', base, { url: `http://127.0.0.1:${receiverPort}/hooks`, eventTypes: ['integration.sync.completed', 'integration.endpoint.disabled'] })
  const secret = endpoint.secret as string
  assert.match(secret, /^whsec_/)

  const ping = await api.ok('POST', `${base}/${endpoint.id as string}/test`)
  const delivered = await eventually('the ping at the receiver', 60_000, async () => received.find((entry) => entry.id === ping.id))
  const payload = new Webhook(secret).verify(delivered.body, delivered.headers) as Json
  assert.equal(payload.type, 'webhook.ping')
  assert.equal(payload.tenantId, stack.tenantId)

  const messages = await eventually('the message listed as succeeded', 30_000, async () => {
    const page = await api.ok('GET', `${base}/${endpoint.id as string}/messages?status=succeeded`)
    return (page.data as Json[]).length === 1 ? (page.data as Json[]) : undefined
  })
  const attempts = await api.ok('GET', `${base}/${endpoint.id as string}/messages/${messages[0]?.id as string}/attempts`)
  assert.equal((attempts.data as Json[])[0]?.responseStatus, 204)

  await api.ok('POST', `${base}/${endpoint.id as string}/messages/${ping.id as string}/replay`)
  await eventually('the replay at the receiver', 60_000, async () => (received.filter((entry) => entry.id === ping.id).length === 2 ? true : undefined))
})

scenario("a sync started through the gateway reaches the tenant's endpoint as started then completed, each once, by way of the bus", async () => {
  const venueId = await api.createVenue('E2E Webhooks Hall')
  const sync = ['integration.sync.started', 'integration.sync.completed', 'integration.sync.failed', 'integration.sync.cancelled']
  const endpoint = await api.ok('POST', base, { url: `http://127.0.0.1:${receiverPort}/sync-hooks`, eventTypes: sync, venueId })
  const { connectionId } = await api.connectStripe(venueId)
  const { syncLogId } = await api.startSync(venueId, ['customer'])
  assert.equal((await api.finishedSync(connectionId, syncLogId, 120_000)).status, 'succeeded')

  const events = await eventually('the run started and completed at the receiver', 60_000, async () => {
    // This endpoint's deliveries only (the first scenario's endpoint hears sync.completed of every venue too).
    const mine = received
      .filter((entry) => entry.path === '/sync-hooks')
      .map((entry) => ({ entry, event: JSON.parse(entry.body) as Json }))
      .filter(({ event }) => (event.data as Json | undefined)?.syncLogId === syncLogId)
    return mine.some(({ event }) => event.type === 'integration.sync.completed') ? mine : undefined
  })
  // Verified by an independent Standard Webhooks implementation; started before completed by sequence.
  const verified = events.map(({ entry }) => new Webhook(endpoint.secret as string).verify(entry.body, entry.headers) as Json).sort((a, b) => (a.sequence as number) - (b.sequence as number))
  assert.deepEqual(
    verified.map((event) => event.type),
    ['integration.sync.started', 'integration.sync.completed'],
  )
  assert.ok(verified.every((event) => event.connectionId === connectionId && event.venueId === venueId))
  assert.ok((verified[0]?.sequence as number) < (verified[1]?.sequence as number))
  // Each once: two messages, each settled after one request.
  const messages = await eventually('both messages settled', 30_000, async () => {
    const page = await api.ok('GET', `${base}/${endpoint.id as string}/messages?status=succeeded`)
    return (page.data as Json[]).length === 2 ? (page.data as Json[]) : undefined
  })
  assert.deepEqual(
    messages.map((message) => message.attempts),
    [1, 1],
  )
  assert.equal(received.filter((entry) => messages.some((message) => message.id === entry.id)).length, 2)
})

scenario('a URL that points at the hub itself or the metadata service is refused through the gateway', async () => {
  for (const url of ['http://2130706433:6379/', 'http://169.254.169.254/latest/meta-data/', 'http://[::ffff:127.0.0.1]/']) {
    const refused = await api.ok('POST', base, { url, eventTypes: ['integration.sync.completed'] }, [400])
    assert.equal(refused.code, 'WEBHOOK_URL_REFUSED', url)
  }
})
