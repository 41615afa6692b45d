// The worker process loads only what it uses: the sync engine and what it writes through, never
// the API's webhook intake or the sync-log feed that compliance-service reads.
import assert from 'node:assert/strict'
import { hostname } from 'node:os'
import { test } from 'node:test'
import { generateKeyRingJson } from '@hub/crypto'
import { Redis } from 'ioredis'
import { HUB_EVENT_FAMILIES, type HubEventFamily } from '@hub/contracts'
import { hubEventStreamKey } from '@hub/event-bus'
import { TEST_REDIS_URL, setupServiceTests } from '@hub/service-kit/testing'
import { SERVICE_NAME } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { INTEGRATION_SCHEMA } from '../src/db/schema.ts'
import integrationWorker from '../src/worker-app.ts'
import { startOutboundWebhookProcessing, TENANT_WEBHOOKS_GROUP } from '../src/plugins/app/outbound-webhooks/index.ts'
import { setupIntegrationTests } from './helpers.ts'

const env = (db: { urlFor(role: string): string }) => ({
  DATABASE_URL: db.urlFor(INTEGRATION_SCHEMA.appRole),
  ENCRYPTION_KEYS: generateKeyRingJson([1]),
  COMPLIANCE_SERVICE_URL: 'http://127.0.0.1:9',
  VENUE_SERVICE_URL: 'http://127.0.0.1:9',
})

test('the worker has the sync engine and the sync-log repository, and neither the webhook intake nor the sync-log feed; the API has all four', async () => {
  const worker = await (await setupServiceTests({ service: SERVICE_NAME, schemas: [INTEGRATION_SCHEMA], env, register: (app, e) => app.register(integrationWorker, { config: loadConfig(e) }) })).build()
  assert.ok(worker.hasDecorator('syncEngine'))
  assert.ok(worker.hasDecorator('syncLogs'))
  assert.equal(worker.hasDecorator('webhookIntake'), false, 'the worker does not take webhooks')
  assert.equal(worker.hasDecorator('syncLogFeed'), false, 'the worker does not serve the sync-log feed')

  const api = await (await setupIntegrationTests()).build()
  for (const name of ['syncEngine', 'syncLogs', 'webhookIntake', 'syncLogFeed']) assert.ok(api.hasDecorator(name), `the API has ${name}`)
})

async function eventually(check: () => Promise<boolean>, what: string, deadlineMs = 30_000): Promise<void> {
  const until = Date.now() + deadlineMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

test("the worker's outbound webhook processing consumes every family of the bus as group tenant-webhooks, and stops with the app", async () => {
  const worker = await (await setupServiceTests({ service: SERVICE_NAME, schemas: [INTEGRATION_SCHEMA], env, register: (app, e) => app.register(integrationWorker, { config: loadConfig(e) }) })).build()
  startOutboundWebhookProcessing(worker)
  const redis = new Redis(TEST_REDIS_URL)
  try {
    const groupsOf = async (family: HubEventFamily) => ((await redis.xinfo('GROUPS', hubEventStreamKey(worker.redisPrefix, family)).catch(() => [])) as unknown[][]).map((group) => group[1])
    for (const family of HUB_EVENT_FAMILIES) {
      await eventually(async () => (await groupsOf(family)).includes(TENANT_WEBHOOKS_GROUP), `the ${family} stream's tenant-webhooks group`)
    }
    const consumers = async () => ((await redis.xinfo('CONSUMERS', hubEventStreamKey(worker.redisPrefix, 'sync'), TENANT_WEBHOOKS_GROUP)) as unknown[][]).length
    await eventually(async () => (await consumers()) === 1, 'the consumer reading')
    // This process's consumer connection (other processes on the box may run their own).
    const name = `event-consumer:${TENANT_WEBHOOKS_GROUP}:${hostname()}-${process.pid}`
    const clients = async () =>
      String(await redis.call('CLIENT', 'LIST'))
        .split('\n')
        .filter((line) => line.includes(`name=${name} `)).length
    await eventually(async () => (await clients()) > 0, "the consumer's connection")
    await worker.close()
    // Its own connection is closed with the app (no reader left behind).
    await eventually(async () => (await clients()) === 0, "the consumer's connection closed")
  } finally {
    await redis.quit()
  }
})
