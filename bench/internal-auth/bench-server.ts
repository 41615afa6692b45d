// The server side of bench/internal-auth: integration-service's real sync-log route, plus the same
// handler mounted without signing, in one process. Started by signed-vs-unsigned.ts.
import { createFastify } from '@hub/service-kit'
import integrationService from '../../services/integration-service/src/app.ts'
import { loadConfig } from '../../services/integration-service/src/config.ts'

const app = createFastify({ service: 'integration-service', logLevel: 'warn' })
await app.register(integrationService, { config: loadConfig() })
// Bench only: the identical handler with no verification, as the baseline.
app.get<{ Params: { venueId: string } }>('/bench/unsigned/sync-logs/venue/:venueId', { config: { auth: false } }, async (request) => app.syncLogFeed.venue(request.params.venueId, { limit: 100 }))
await app.listen({ port: Number(process.env.BENCH_PORT), host: '127.0.0.1' })
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)))
