// Entry of the integration-worker process: health, readiness and metrics on
// INTEGRATION_WORKER_PORT, and the queue processors. SIGTERM/SIGINT stop taking jobs; running
// jobs checkpoint at their next page and are handed back for another worker to resume.
// First: starts tracing (when configured) before anything it instruments is loaded.
import '@hub/telemetry/register'
import { createFastify, loadDotEnv, runServer } from '@hub/service-kit'
import integrationWorker, { WORKER_NAME } from './worker-app.ts'
import { startSyncProcessing } from './plugins/app/sync/index.ts'
import { startOutboundWebhookProcessing } from './plugins/app/outbound-webhooks/index.ts'
import { startRetentionProcessing } from './plugins/app/retention/index.ts'
import { loadConfig } from './config.ts'

loadDotEnv()
const config = loadConfig()
const app = createFastify({ service: WORKER_NAME, logLevel: config.LOG_LEVEL })
await app.register(integrationWorker, { config })
// No load balancer sends to the worker: it drains only when told to.
await runServer(app, { port: config.INTEGRATION_WORKER_PORT, host: config.HOST, drainMs: config.DRAIN_MS ?? 0, graceMs: 30_000 })
// The worker also keeps Redis in line with Postgres (lost runs re-enqueued, schedules restored).
startSyncProcessing(app, { reconcile: true })
// Tenant webhooks: the bus consumer (group tenant-webhooks) that fans events out, deliveries on
// their own queue, and the sweeper that re-enqueues due messages.
startOutboundWebhookProcessing(app)
await startRetentionProcessing(app, config.RETENTION_INTERVAL_MS)
