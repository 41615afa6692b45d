// Import this first in a process's entry (`import '@hub/telemetry/register'`): with
// OTEL_EXPORTER_OTLP_ENDPOINT (or …_TRACES_ENDPOINT) set it starts tracing before Fastify, pg and
// ioredis are loaded, so the instrumentations can patch them; without it the SDK is not started
// (its modules are loaded, nothing runs). The imports are static on purpose: a top-level `await
// import()` here would let the entry's next imports evaluate before tracing started.
import { createRequire } from 'node:module'
import { basename, dirname } from 'node:path'
import { startTelemetry, tracingRequested } from './sdk.ts'

function serviceNameFromEntry(entry: string | undefined): string {
  if (!entry) return 'venue-hub'
  // services/<name>/src/server.ts (or dist/server.js); the worker entry is the integration-worker.
  if (/worker\.[cm]?[jt]s$/.test(entry)) return 'integration-worker'
  return basename(dirname(dirname(entry))) || 'venue-hub'
}

if (tracingRequested(process.env)) {
  const serviceName = process.env.OTEL_SERVICE_NAME || serviceNameFromEntry(process.argv[1])
  const telemetry = startTelemetry({ serviceName, edge: serviceName === 'api-gateway' })
  // ioredis is imported from ESM, which the require hooks never see; requiring it once here (as the
  // entry would resolve it) patches the shared CommonJS module the later imports receive.
  if (process.argv[1]) {
    try {
      createRequire(process.argv[1])('ioredis')
    } catch {
      // a process without ioredis has nothing to patch
    }
  }
  // Spans still buffered are sent before the process ends: close-with-grace exits after its
  // handlers, so the flush starts on the signal and again when the loop empties.
  process.once('beforeExit', () => void telemetry.shutdown().catch(() => undefined))
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.prependOnceListener(signal, () => void telemetry.forceFlush().catch(() => undefined))
}
