// First: starts tracing (when configured) before anything it instruments is loaded.
import '@hub/telemetry/register'
import { createFastify, loadDotEnv, runServer, trustProxyOption } from '@hub/service-kit'
import venueService, { SERVICE_NAME } from './app.ts'
import { loadConfig } from './config.ts'

loadDotEnv()
const config = loadConfig()
const app = createFastify({ service: SERVICE_NAME, logLevel: config.LOG_LEVEL, trustProxy: trustProxyOption(config) })
await app.register(venueService, { config })
await runServer(app, { port: config.VENUE_SERVICE_PORT, host: config.HOST, drainMs: config.DRAIN_MS })
