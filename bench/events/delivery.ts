// Tenant webhook delivery: events handed to fanOut (as the bus's `tenant-webhooks` consumer does)
// at a fixed open-loop rate, delivered by the integration-worker running as its own process (as in
// production) to a local receiver that checks every signature with the registry's
// `standardwebhooks` package. Prints deliveries/s against the offered rate (the limit: an
// open-loop bench cannot deliver faster than it offers) and the end-to-end latency, from the
// scheduled fanOut call to the receiver having the request, p50/p99 against its target.
//
//   npx tsx bench/events/delivery.ts [events/s, default 50] [seconds, default 10] [endpoints, default 1]
//   short setting: npx tsx bench/events/delivery.ts 20 3
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Webhook } from 'standardwebhooks'
import { createFastify } from '@hub/service-kit'
import { bearer, createTestDatabase, deleteRedisPrefix, testToken } from '@hub/service-kit/testing'
import type { HubEvent } from '@hub/contracts'
import integrationService from '../../services/integration-service/src/app.ts'
import { loadConfig } from '../../services/integration-service/src/config.ts'
import { INTEGRATION_SCHEMA } from '../../services/integration-service/src/db/schema.ts'
import { fmt, freePort, integrationEnv, spawnWorker, stopAll, testIdentityEnv, waitFor } from '../support.ts'

const rate = Number(process.argv[2] ?? 50)
const seconds = Number(process.argv[3] ?? 10)
const endpointCount = Number(process.argv[4] ?? 1)
const TARGET_P99_MS = 1000
const TARGET_SHARE = 0.95

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN

const db = await createTestDatabase([INTEGRATION_SCHEMA])
const prefix = `hubbench:${randomUUID().slice(0, 8)}:`

// The receiver: verifies, then records when each message arrived.
const arrivals = new Map<string, number>()
let badSignatures = 0
const secrets: string[] = []
const receiver = createServer((request, response) => {
  const chunks: Buffer[] = []
  request.on('data', (chunk: Buffer) => chunks.push(chunk))
  request.on('end', () => {
    const at = performance.now() + performance.timeOrigin
    const body = Buffer.concat(chunks).toString('utf8')
    const headers = { 'webhook-id': String(request.headers['webhook-id']), 'webhook-timestamp': String(request.headers['webhook-timestamp']), 'webhook-signature': String(request.headers['webhook-signature']) }
    const verified = secrets.some((secret) => {
      try {
        new Webhook(secret).verify(body, headers)
        return true
      } catch {
        return false
      }
    })
    if (!verified) badSignatures += 1
    if (!arrivals.has(headers['webhook-id'])) arrivals.set(headers['webhook-id'], at)
    response.writeHead(204).end()
  })
})
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
const receiverPort = (receiver.address() as AddressInfo).port

const env = integrationEnv(testIdentityEnv(prefix), db.urlFor(INTEGRATION_SCHEMA.appRole), {
  OUTBOUND_WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${receiverPort}`,
  // No compliance-service here: its relay would only log failures.
  AUDIT_RELAY_INTERVAL_MS: '0',
})
const app = createFastify({ service: 'integration-service', logLevel: 'warn' })
await app.register(integrationService, { config: loadConfig(env) })
await app.ready()
const workerPort = await freePort()
const worker = spawnWorker({ ...env, INTEGRATION_WORKER_PORT: String(workerPort) })

try {
  await waitFor(`http://127.0.0.1:${workerPort}/ready`, 120_000)
  const tenantId = randomUUID()
  const venueId = randomUUID()
  const headers = bearer(testToken({ tenantId, roles: ['admin'] }))
  for (let i = 0; i < endpointCount; i += 1) {
    const created = await app.inject({ method: 'POST', url: '/api/v1/integrations/webhook-endpoints', headers, payload: { url: `http://127.0.0.1:${receiverPort}/hooks/${i}`, eventTypes: ['integration.sync.completed'] } })
    if (created.statusCode !== 201) throw new Error(`endpoint not created: ${created.body}`)
    secrets.push((created.json() as { secret: string }).secret)
  }

  // Warm-up (connections, JIT, the worker's first jobs), not measured.
  const event = (sequence: number, at: number): HubEvent => ({
    id: randomUUID(),
    type: 'integration.sync.completed',
    version: 1,
    tenantId,
    venueId,
    connectionId: null,
    sequence,
    occurredAt: new Date(at).toISOString(),
    data: { entity: 'customers', created: sequence },
  })
  const warmUp = 10
  for (let i = 0; i < warmUp; i += 1) await app.outboundWebhooks.fanOut(event(i + 1, Date.now()))
  const warmDeadline = Date.now() + 120_000
  while (arrivals.size < warmUp * endpointCount && Date.now() < warmDeadline) await sleep(100)
  arrivals.clear()
  await db.adminQuery('delete from integration.webhook_messages')

  // Open loop: event i is handed to fanOut at start + i / rate, whether or not earlier ones are done.
  const total = Math.round(rate * seconds)
  const scheduled = new Map<string, number>()
  const start = performance.now() + performance.timeOrigin + 200
  const pending: Array<Promise<unknown>> = []
  console.log(`offering ${fmt(total)} events at ${fmt(rate)}/s to ${endpointCount} endpoint(s) for ${seconds} s`)
  for (let i = 0; i < total; i += 1) {
    const due = start + (i * 1000) / rate
    const wait = due - (performance.now() + performance.timeOrigin)
    if (wait > 0) await sleep(wait)
    const next = event(warmUp + i + 1, due)
    scheduled.set(next.id, due)
    pending.push(app.outboundWebhooks.fanOut(next))
  }
  await Promise.all(pending)
  const expected = total * endpointCount
  const deadline = Date.now() + 120_000
  while (arrivals.size < expected && Date.now() < deadline) {
    process.stdout.write(`\r  delivered ${fmt(arrivals.size)}/${fmt(expected)}`)
    await sleep(250)
  }
  process.stdout.write('\n')

  // Message id -> event id: latency is measured from the event's scheduled fanOut.
  const rows = await db.adminQuery<{ id: string; event_id: string; stored_ms: number }>('select id, event_id, extract(epoch from created_at) * 1000 as stored_ms from integration.webhook_messages')
  // Where the time goes: from the scheduled fanOut to the message stored, and from stored to arrival.
  const storedLag = rows
    .map((row) => Number(row.stored_ms) - (scheduled.get(row.event_id) ?? NaN))
    .filter(Number.isFinite)
    .sort((a, b) => a - b)
  const deliveryLag = rows
    .map((row) => (arrivals.get(row.id) ?? NaN) - Number(row.stored_ms))
    .filter(Number.isFinite)
    .sort((a, b) => a - b)
  const latencies = rows
    .map((row) => {
      const arrived = arrivals.get(row.id)
      const due = scheduled.get(row.event_id)
      return arrived !== undefined && due !== undefined ? arrived - due : undefined
    })
    .filter((value): value is number => value !== undefined)
    .sort((a, b) => a - b)
  const lastArrival = Math.max(...arrivals.values())
  const perSecond = arrivals.size / ((lastArrival - start) / 1000)
  const offered = rate * endpointCount
  const p50 = percentile(latencies, 50)
  const p99 = percentile(latencies, 99)
  const ok = (pass: boolean) => (pass ? 'met' : 'NOT met')
  console.log(`
tenant webhook delivery: fanOut in this process → integration-worker (own process, queue integration-webhooks-out) → local receiver
  delivered        ${fmt(arrivals.size)}/${fmt(expected)} messages, ${badSignatures} failed standardwebhooks verification
  deliveries/s     ${fmt(perSecond, 1)}   [limit: the offered rate ${fmt(offered)}/s; target ≥ ${TARGET_SHARE * 100}% of it: ${ok(perSecond >= offered * TARGET_SHARE && arrivals.size === expected)}]
  end-to-end p50   ${fmt(p50, 1)} ms
  end-to-end p99   ${fmt(p99, 1)} ms   [target < ${TARGET_P99_MS} ms at ${fmt(offered)}/s: ${ok(p99 < TARGET_P99_MS)}]
    of which fanOut → stored     p50 ${fmt(percentile(storedLag, 50), 1)} ms, p99 ${fmt(percentile(storedLag, 99), 1)} ms
    and stored → at the receiver p50 ${fmt(percentile(deliveryLag, 50), 1)} ms, p99 ${fmt(percentile(deliveryLag, 99), 1)} ms
  (figures on a shared, loaded box are indications only)`)
  if (badSignatures > 0 || arrivals.size < expected) process.exitCode = 1
} finally {
  await stopAll([worker])
  await app.close()
  receiver.close()
  await db.drop()
  await deleteRedisPrefix(prefix)
}
