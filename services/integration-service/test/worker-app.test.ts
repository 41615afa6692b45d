// The worker process loads only what it uses: the sync engine and what it writes through, never
// the API's webhook intake or the sync-log feed that compliance-service reads.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { generateKeyRingJson } from '@hub/crypto'
import { setupServiceTests } from '@hub/service-kit/testing'
import { SERVICE_NAME } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { INTEGRATION_SCHEMA } from '../src/db/schema.ts'
import integrationWorker from '../src/worker-app.ts'
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
