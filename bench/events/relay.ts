// bench/events/relay: the internal event bus end to end. Events are written to the outbox (each in
// its own tenant transaction, as an emitter does) at a steady open-loop rate over 50 connections;
// integration-service's relay (its own timer, EVENT_RELAY_INTERVAL_MS=200 as shipped) puts them on
// Redis Streams, and an @hub/event-bus consumer acknowledges them. It prints the rate relayed and
// consumed against the rate offered, and the latency from an event being due to its handler
// finishing (p50/p99), and from its commit (the bus alone, without the writer's wait). Then a backlog written at once measures how fast the relay and the consumer
// drain it (their capacity). Relay, consumer and producer share this process and the box.
//
//   npx tsx bench/events/relay.ts            (BENCH_RATE=200 BENCH_SECONDS=10 BENCH_BACKLOG=5000)
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { startEventConsumer } from '@hub/event-bus'
import { createFastify } from '@hub/service-kit'
import { createTestDatabase, deleteRedisPrefix } from '@hub/service-kit/testing'
import integrationService from '../../services/integration-service/src/app.ts'
import { loadConfig } from '../../services/integration-service/src/config.ts'
import { INTEGRATION_SCHEMA } from '../../services/integration-service/src/db/schema.ts'
import { publishEvent } from '../../services/integration-service/src/plugins/app/events/event-outbox-repository.ts'
import { fmt, integrationEnv, testIdentityEnv } from '../support.ts'

const RATE = Number(process.env.BENCH_RATE ?? 200)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 5_000)
const CONNECTIONS = 50
/** Targets and limits the figures are compared with (indications on a shared two-core box). */
const TARGET = { p50Ms: 300, p99Ms: 1_000, drainPerSecond: 2_000 }
const LIMIT = { p50Ms: 1_000, p99Ms: 3_000, drainPerSecond: 500 }

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0

async function main(): Promise<void> {
  const db = await createTestDatabase([INTEGRATION_SCHEMA])
  const prefix = `hubbench:${randomUUID().slice(0, 8)}:`
  const app = createFastify({ service: 'integration-service', logLevel: 'warn' })
  await app.register(integrationService, {
    config: loadConfig(integrationEnv(testIdentityEnv(prefix), db.urlFor(INTEGRATION_SCHEMA.appRole), { DATABASE_POOL_MAX: '20', MAX_EVENT_LOOP_DELAY_MS: '0' })),
  })
  await app.ready()
  const tenantId = randomUUID()
  const venueId = randomUUID()
  const connections = Array.from({ length: CONNECTIONS }, () => randomUUID())

  // When each event was due (the open-loop clock), and when its handler finished.
  const due = new Map<string, number>()
  const committed = new Map<string, number>()
  const latencies: number[] = []
  const afterCommit: number[] = []
  let consumed = 0
  let recording = false
  const consumer = await startEventConsumer({
    redis: app.redis,
    keyPrefix: prefix,
    families: ['webhook'],
    group: 'bench',
    consumer: 'bench-1',
    batchSize: 200,
    blockMs: 1_000,
    handle: async (event) => {
      consumed += 1
      const at = due.get(event.id)
      if (recording && at !== undefined) latencies.push(performance.now() - at)
      const at2 = committed.get(event.id)
      if (recording && at2 !== undefined) afterCommit.push(performance.now() - at2)
    },
  })

  const publish = async (connectionId: string, dueAt: number): Promise<void> => {
    const event = await app.db.withTenant(tenantId, (trx) =>
      publishEvent(trx, {
        type: 'integration.webhook.received',
        tenantId,
        venueId,
        connectionId,
        data: { inboxId: randomUUID(), provider: 'stripe', eventType: 'customer.updated', entity: 'customer', externalId: `cus_${randomUUID().slice(0, 8)}` },
      }),
    )
    due.set(event.id, dueAt)
    committed.set(event.id, performance.now())
  }

  try {
    // 1. Steady load: RATE events per second, each due at its own instant, written when due.
    console.log(`steady load: ${fmt(RATE)} events/s offered for ${SECONDS} s over ${CONNECTIONS} connections (relay every 200 ms)`)
    recording = true
    const start = performance.now()
    const total = RATE * SECONDS
    let sent = 0
    const writes: Array<Promise<void>> = []
    while (sent < total) {
      const dueNow = Math.min(total, Math.floor(((performance.now() - start) / 1000) * RATE))
      for (; sent < dueNow; sent++) writes.push(publish(connections[sent % CONNECTIONS] as string, start + (sent / RATE) * 1000))
      await sleep(5)
    }
    await Promise.all(writes)
    const written = performance.now()
    while (latencies.length < total && performance.now() - written < 60_000) await sleep(20)
    const elapsed = (performance.now() - start) / 1000
    const relayed = Number((await app.metrics.registry.getSingleMetric('events_relayed_total')?.get())?.values[0]?.value ?? 0)
    const sorted = [...latencies].sort((a, b) => a - b)
    const p50 = percentile(sorted, 50)
    const p99 = percentile(sorted, 99)
    console.log(`  relayed   ${fmt(relayed / elapsed, 1)} events/s   (offered ${fmt(RATE)}; ${fmt(relayed)} of ${fmt(total)})`)
    console.log(`  consumed  ${fmt(latencies.length / elapsed, 1)} events/s   (offered ${fmt(RATE)}; ${fmt(latencies.length)} of ${fmt(total)})`)
    console.log(`  due → handled p50 ${fmt(p50)} ms   target ≤ ${fmt(TARGET.p50Ms)} ms, limit ${fmt(LIMIT.p50Ms)} ms   ${p50 <= LIMIT.p50Ms ? 'ok' : 'OVER LIMIT'}`)
    console.log(`  due → handled p99 ${fmt(p99)} ms   target ≤ ${fmt(TARGET.p99Ms)} ms, limit ${fmt(LIMIT.p99Ms)} ms   ${p99 <= LIMIT.p99Ms ? 'ok' : 'OVER LIMIT'}`)
    // The same without the producer's own wait for Postgres: from the change's commit (relay and consumer only).
    const bus = [...afterCommit].sort((a, b) => a - b)
    console.log(`  committed → handled p50 ${fmt(percentile(bus, 50))} ms, p99 ${fmt(percentile(bus, 99))} ms   (relay pause 200 ms + read + handle; same target and limit)`)
    recording = false

    // 2. Capacity: a backlog written at once (500 events per transaction), drained by the relay and the consumer.
    console.log(`capacity: a backlog of ${fmt(BACKLOG)} events`)
    const before = consumed
    const backlogStart = performance.now()
    for (let i = 0; i < BACKLOG; i += 500) {
      await app.db.withTenant(tenantId, async (trx) => {
        for (let j = i; j < Math.min(BACKLOG, i + 500); j++) {
          await publishEvent(trx, {
            type: 'integration.webhook.received',
            tenantId,
            venueId,
            connectionId: connections[j % CONNECTIONS] as string,
            data: { inboxId: randomUUID(), provider: 'stripe', eventType: 'customer.updated', entity: 'customer', externalId: `cus_${j}` },
          })
        }
      })
    }
    const backlogWritten = performance.now()
    let relayedAt = 0
    while (consumed - before < BACKLOG && performance.now() - backlogWritten < 120_000) {
      if (!relayedAt && (await app.db.withSystemScope((trx) => app.eventOutbox.backlog(trx))).count === 0) relayedAt = performance.now()
      await sleep(20)
    }
    const drained = performance.now()
    if (!relayedAt) relayedAt = drained
    const relayRate = BACKLOG / ((relayedAt - backlogWritten) / 1000)
    const drainRate = (consumed - before) / ((drained - backlogWritten) / 1000)
    console.log(
      `  written in ${fmt((backlogWritten - backlogStart) / 1000, 1)} s; relayed ${fmt(relayRate)} events/s; relayed and consumed ${fmt(drainRate)} events/s   target ≥ ${fmt(TARGET.drainPerSecond)}, limit ${fmt(LIMIT.drainPerSecond)}   ${drainRate >= LIMIT.drainPerSecond ? 'ok' : 'UNDER LIMIT'}`,
    )
  } finally {
    await consumer.stop()
    await app.close()
    await db.drop()
    await deleteRedisPrefix(prefix)
  }
}

await main()
process.exit(0)
