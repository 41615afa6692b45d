// First: starts tracing (when configured) before anything it instruments is loaded.
import '@hub/telemetry/register'
import { createFastify, loadDotEnv, runServer } from '@hub/service-kit'
import apiGateway, { SERVICE_NAME } from './app.ts'
import { edgeServerOptions, loadConfig } from './config.ts'

loadDotEnv()
const config = loadConfig()
const app = createFastify({ service: SERVICE_NAME, logLevel: config.LOG_LEVEL, ...edgeServerOptions(config) })
await app.register(apiGateway, { config })
await runServer(app, { port: config.API_GATEWAY_PORT, host: config.HOST, drainMs: config.DRAIN_MS })
