// Messages whose delivery job Bull still holds under its id but will never run again: left in the
// failed set by a database outage, in the completed set, or delayed past the time Postgres says
// the message is due. Postgres is the truth; the sweeper must make each such message run, once.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { eventually, setupHooksRig, startReceiver } from './hooks-rig.ts'
import { createOutboundWebhookQueue } from '../../src/plugins/app/outbound-webhooks/outbound-webhook-queue.ts'

const rig = await setupHooksRig()

type App = Awaited<ReturnType<typeof rig.build>>['app']

async function register(app: App, tenantId: string, body: Record<string, unknown>): Promise<{ id: string }> {
  const response = await app.inject({ method: 'POST', url: '/api/v1/integrations/webhook-endpoints', headers: rig.admin(tenantId), payload: body })
  assert.equal(response.statusCode, 201, response.body)
  return response.json()
}

interface MessageState {
  id: string
  event_id: string
  status: string
  attempt_count: number
  due: boolean
}

const messagesOf = (endpointId: string) =>
  rig.db.adminQuery<MessageState>('select id, event_id, status, attempt_count, next_attempt_at <= now() as due from integration.webhook_messages where endpoint_id = $1 order by created_at', [endpointId])

const attemptsOf = (messageId: string) => rig.count('integration.webhook_attempts where message_id = $1', [messageId])

test("a pending message whose job a database outage left in Bull's failed set (or whose job sits in the completed set) is delivered by the sweeper, once", async (t) => {
  const receiver = await startReceiver()
  const { app } = await rig.build(t, { OUTBOUND_WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${receiver.port}` }, { process: false })
  const tenantId = randomUUID()
  const endpoint = await register(app, tenantId, { url: receiver.url, eventTypes: ['integration.sync.completed'] })
  const failedEvent = rig.event(tenantId, randomUUID())
  const completedEvent = rig.event(tenantId, randomUUID())
  await app.outboundWebhooks.fanOut(failedEvent)
  await app.outboundWebhooks.fanOut(completedEvent)
  const [failedMessage, completedMessage] = await messagesOf(endpoint.id)
  assert.equal(failedMessage?.event_id, failedEvent.id)
  assert.equal(completedMessage?.event_id, completedEvent.id)
  const failedJobId = `${failedMessage.id}:0`
  const completedJobId = `${completedMessage.id}:0`

  // The outage as Bull sees it, with the queue's own options: a worker whose every database call is
  // refused runs the jobs before they claim anything. One throws its three attempts (1 s apart)
  // into the failed set; the other finishes without a claim and lands in the completed set.
  const outage = createOutboundWebhookQueue({ redisUrl: rig.env.REDIS_URL as string, prefix: app.redisPrefix })
  void outage.queue.process(1, async (job) => {
    if (job.data.messageId === completedMessage.id) return 'skipped'
    throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })
  })
  await eventually(async () => (await outage.queue.getJob(failedJobId))?.isFailed(), 'the job in the failed set', 15_000)
  await eventually(async () => (await outage.queue.getJob(completedJobId))?.isCompleted(), 'the job in the completed set', 15_000)
  await outage.close()
  const failedJob = await app.outboundWebhookInternals.queue.queue.getJob(failedJobId)
  assert.equal(failedJob?.attemptsMade, 3)
  assert.match(failedJob?.failedReason ?? '', /ECONNREFUSED/)

  // Postgres still has both pending, not yet attempted and due; nothing reached the receiver.
  assert.deepEqual(
    (await messagesOf(endpoint.id)).map((m) => [m.status, m.attempt_count, m.due]),
    [
      ['pending', 0, true],
      ['pending', 0, true],
    ],
  )
  assert.equal(receiver.hits, 0)

  // The database is back and the worker starts: its sweeper must not be stopped by the ids Bull holds.
  app.outboundWebhookInternals.start()
  await eventually(async () => (await messagesOf(endpoint.id)).every((m) => m.status === 'succeeded'), 'both messages delivered by way of the sweeper', 10_000)
  await eventually(async () => {
    const counts = await app.outboundWebhookInternals.queue.queue.getJobCounts()
    return counts.waiting + counts.active + counts.delayed === 0
  }, 'an idle delivery queue')
  // More sweeps pass (every 200 ms here): a delivered message is not sent again.
  await sleep(1_000)
  for (const [message, event] of [
    [failedMessage, failedEvent],
    [completedMessage, completedEvent],
  ] as const) {
    const copies = receiver.deliveries.filter((d) => d.event.id === event.id)
    assert.equal(copies.length, 1, `event ${event.id} delivered once`)
    assert.equal(copies[0]?.id, message.id)
    assert.equal(await attemptsOf(message.id), 1)
  }
  assert.deepEqual(
    (await messagesOf(endpoint.id)).map((m) => [m.status, m.attempt_count]),
    [
      ['succeeded', 1],
      ['succeeded', 1],
    ],
  )
  assert.equal(receiver.hits, 2)
})

test('a message replayed while its retry waits in Bull (delayed for an hour) is sent at once, not at the next sweep or an hour later, and once', async (t) => {
  const receiver = await startReceiver()
  receiver.setMode('error')
  // No sweep within the test: the replay alone must make the message run.
  const { app } = await rig.build(t, { OUTBOUND_WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${receiver.port}`, OUTBOUND_WEBHOOK_RETRY_SCHEDULE: '0ms,1h', OUTBOUND_WEBHOOK_SWEEP_INTERVAL_MS: '3600000' })
  const tenantId = randomUUID()
  const endpoint = await register(app, tenantId, { url: receiver.url, eventTypes: ['integration.sync.completed'] })
  const event = rig.event(tenantId, randomUUID())
  await app.outboundWebhooks.fanOut(event)
  const [message] = await eventually(async () => {
    const rows = await messagesOf(endpoint.id)
    return rows[0]?.attempt_count === 1 && rows[0].status === 'pending' ? rows : undefined
  }, 'the first attempt failed and its retry scheduled')
  assert.ok(message)
  // Attempt 2's job waits an hour in Bull's delayed set under the id a replay enqueues again.
  await eventually(async () => (await app.outboundWebhookInternals.queue.queue.getJob(`${message.id}:1`))?.isDelayed(), 'the retry delayed in Bull')

  receiver.setMode('up')
  const replay = await app.inject({ method: 'POST', url: `/api/v1/integrations/webhook-endpoints/${endpoint.id}/messages/${message.id}/replay`, headers: rig.admin(tenantId) })
  assert.equal(replay.statusCode, 202, replay.body)
  await eventually(async () => (await messagesOf(endpoint.id))[0]?.status === 'succeeded', 'the replayed message delivered', 10_000)
  await sleep(1_000)
  assert.equal(receiver.deliveries.filter((d) => d.event.id === event.id).length, 1)
  assert.equal(await attemptsOf(message.id), 2)
  assert.equal((await app.outboundWebhookInternals.queue.queue.getJobCounts()).delayed, 0)
})
