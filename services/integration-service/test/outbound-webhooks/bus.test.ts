// The bus wired to tenant webhooks in one process: an event written with `publishEvent` in a tenant
// transaction is relayed to its Redis stream, read by the `tenant-webhooks` consumer group, fanned
// out and delivered to the tenant's endpoint, verified with the registry's `standardwebhooks`. The
// same stream entry delivered again (a consumer crash before its ack) sends nothing twice.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import type { HubEvent } from '@hub/contracts'
import { hubEventStreamKey } from '@hub/event-bus'
import { TEST_REDIS_URL } from '@hub/service-kit/testing'
import { publishEvent } from '../../src/plugins/app/events/event-outbox-repository.ts'
import { TENANT_WEBHOOKS_GROUP } from '../../src/plugins/app/outbound-webhooks/index.ts'
import { eventually, setupHooksRig, startReceiver } from './hooks-rig.ts'

const rig = await setupHooksRig()
const redis = new Redis(TEST_REDIS_URL)
test.after(() => redis.quit())

test('an event published with publishEvent reaches a tenant endpoint through relay, stream, consumer, fanOut and delivery, once', async (t) => {
  const receiver = await startReceiver()
  const { app } = await rig.build(t, { OUTBOUND_WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${receiver.port}` })
  const tenantId = randomUUID()
  const venueId = randomUUID()
  const connectionId = randomUUID()
  const created = await app.inject({ method: 'POST', url: '/api/v1/integrations/webhook-endpoints', headers: rig.admin(tenantId), payload: { url: receiver.url, eventTypes: ['integration.sync.completed'], venueId } })
  assert.equal(created.statusCode, 201, created.body)
  const endpoint = created.json() as { id: string; secret: string }

  const now = new Date().toISOString()
  const published = await app.db.withTenant(tenantId, (trx) =>
    publishEvent(trx, {
      type: 'integration.sync.completed',
      tenantId,
      venueId,
      connectionId,
      data: {
        syncLogId: randomUUID(),
        provider: 'stripe',
        entity: 'customer',
        kind: 'pull',
        mode: 'full',
        trigger: 'manual',
        status: 'succeeded',
        counts: { fetched: 3, created: 3, updated: 0, unchanged: 0, deleted: 0, failed: 0 },
        startedAt: now,
        finishedAt: now,
        durationMs: 0,
      },
    }),
  )

  const delivery = await eventually(() => receiver.deliveries.find((d) => d.event.id === published.id), 'the delivery at the receiver')
  // The relay numbered it: the connection's first event.
  assert.deepEqual(receiver.verify(delivery, endpoint.secret), { ...published, sequence: 1 })

  // Acknowledged by the group once fanOut stored the message.
  const stream = hubEventStreamKey(app.redisPrefix, 'sync')
  const pending = async () => Number(((await redis.xpending(stream, TENANT_WEBHOOKS_GROUP)) as [number])[0])
  await eventually(async () => (await pending()) === 0, 'the entry acknowledged')

  // The same event on the stream again, as a redelivery would bring it: nothing new is stored or sent.
  const [[entryId, fields] = ['', []]] = (await redis.xrange(stream, '-', '+')) as Array<[string, string[]]>
  assert.equal((JSON.parse(String(fields[1])) as HubEvent).id, published.id)
  // Just after the original (`<position>-1`), below any id the relay gives next.
  const again = `${entryId.split('-')[0]}-1`
  await redis.xadd(stream, again, 'event', String(fields[1]))
  await eventually(async () => {
    const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][]
    const group = groups.find((entry) => entry[1] === TENANT_WEBHOOKS_GROUP) ?? []
    return group[group.indexOf('last-delivered-id') + 1] === again && (await pending()) === 0
  }, 'the repeated entry handled and acknowledged')
  assert.equal(await rig.count('integration.webhook_messages where event_id = $1', [published.id]), 1)
  await eventually(async () => {
    const counts = await app.outboundWebhookInternals.queue.queue.getJobCounts()
    return counts.waiting + counts.active + counts.delayed === 0
  }, 'an idle delivery queue')
  assert.equal(receiver.deliveries.filter((d) => d.event.id === published.id).length, 1)
})
