// The internal event bus across real processes: the integration-worker runs a sync and writes its
// events to the outbox, a relay (API or worker process) puts them on Redis Streams, and
// compliance-service, listening with @hub/event-bus, pulls the run at once. The sync-log poll is
// set to ten minutes here, so only the event can bring the run to compliance within the deadline.
import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { hubEventFamily, type HubEvent } from '@hub/contracts'
import { startEventConsumer } from '@hub/event-bus'
import { createRedis } from '@hub/service-kit'
import { TEST_REDIS_URL } from '@hub/service-kit/testing'
import { hub } from './support/hub.ts'
import { eventually, scenario, startStack } from './support/stack.ts'

/** Relay every 200 ms, compliance pulls on the event: seconds; the room is for a loaded, shared Postgres. */
const DEADLINE_MS = 60_000

const stack = await startStack({ env: { SYNC_LOG_POLL_MS: '600000' } })
const api = hub(stack)

describe('events', () => {
  scenario("a sync's events reach a consumer of the bus once each, in order, and compliance-service has the run without polling", async (t) => {
    const redis = createRedis(TEST_REDIS_URL, 'e2e-events')
    t.after(() => redis.quit())
    const received: HubEvent[] = []
    const consumer = await startEventConsumer({
      redis,
      keyPrefix: stack.redisPrefix,
      families: ['sync', 'records', 'connection'],
      group: 'e2e-observer',
      consumer: 'e2e',
      blockMs: 200,
      handle: async (event) => {
        received.push(event)
      },
    })
    t.after(() => consumer.stop())

    const venueId = await api.createVenue('E2E Events Hall')
    const { connectionId } = await api.connectStripe(venueId)
    const { syncLogId } = await api.startSync(venueId, ['customer'])
    const log = await api.finishedSync(connectionId, syncLogId, 120_000)
    assert.equal(log.status, 'succeeded')

    // Every event up to the run's completion: one stream per family, so the families arrive side by
    // side; the sequence is what orders a connection's events across them.
    const mine = await eventually(`the run's events on the bus`, DEADLINE_MS, async () => {
      const events = received.filter((event) => event.connectionId === connectionId)
      const completed = events.find((event) => event.type === 'integration.sync.completed')
      return completed && new Set(events.map((event) => event.sequence)).size >= completed.sequence ? events : undefined
    })
    const ordered = [...mine].sort((a, b) => a.sequence - b.sequence)
    for (const family of ['sync', 'records', 'connection']) {
      const ofFamily = (events: HubEvent[]) => events.filter((event) => hubEventFamily(event.type) === family).map((event) => event.id)
      assert.deepEqual(ofFamily(mine), ofFamily(ordered), `${family}: handed over in sequence order`)
    }
    assert.deepEqual(
      ordered.map((event) => event.sequence),
      ordered.map((_, i) => i + 1),
      'gapless from 1',
    )
    assert.equal(new Set(mine.map((event) => event.id)).size, mine.length, 'each once')
    assert.deepEqual(
      ordered.map((event) => event.type).filter((type) => type !== 'integration.records.changed'),
      ['integration.connection.status_changed', 'integration.sync.started', 'integration.sync.completed'],
    )
    const created = mine.filter((event) => event.type === 'integration.records.changed').flatMap((event) => event.data.created as string[])
    assert.equal(created.length, (log.counts as { created: number }).created)

    // compliance-service polls every ten minutes here: the run arrived because the event woke it.
    const copied = await eventually('the run in compliance-service', DEADLINE_MS, async () => (await api.complianceSyncLogs(venueId)).find((entry) => entry.id === syncLogId && entry.status === 'succeeded'))
    assert.equal(copied.connectionId, connectionId)
  })

  scenario('the event catalogue is public at the gateway', async () => {
    const response = await fetch(`${stack.gateway}/api/v1/integrations/events/catalogue`)
    assert.equal(response.status, 200)
    const document = (await response.json()) as { $defs: Record<string, unknown> }
    assert.ok(document.$defs['integration.sync.completed.v1'])
  })
})
