// Shared set-up for the settings tests: a fresh database and Redis prefix per file (helpers.ts), an
// app per test whose log lines are captured, and small request helpers.
import { after, type TestContext } from 'node:test'
import { randomUUID } from 'node:crypto'
import { createFastify } from '@hub/service-kit'
import { bearer, captureLogs, createTestDatabase, listenLocal, testToken } from '@hub/service-kit/testing'
import venueService from '../../../venue-service/src/app.ts'
import { loadConfig as loadVenueConfig } from '../../../venue-service/src/config.ts'
import { VENUE_SCHEMA } from '../../../venue-service/src/db/schema.ts'
import integrationService, { SERVICE_NAME } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { setupIntegrationTests } from '../helpers.ts'

export type Role = 'admin' | 'manager' | 'viewer'

export async function setupSettingsRig() {
  const { env: integrationEnv, db } = await setupIntegrationTests()
  // Venue-scoped settings need the venue to exist in the tenant: the real venue-service answers.
  const venueDb = await createTestDatabase([VENUE_SCHEMA])
  const venues = createFastify({ service: 'venue-service', logLevel: 'silent' })
  await venues.register(venueService, { config: loadVenueConfig({ ...integrationEnv, DATABASE_URL: venueDb.urlFor(VENUE_SCHEMA.appRole), INTEGRATION_SERVICE_URL: 'http://127.0.0.1:9' }) })
  const env: Record<string, string> = { ...integrationEnv, VENUE_SERVICE_URL: await listenLocal(venues) }
  after(async () => {
    await venues.close()
    await venueDb.drop()
  })

  /** Creates a venue of `tenantId` through venue-service and returns its id. */
  async function venue(tenantId: string): Promise<string> {
    const response = await venues.inject({ method: 'POST', url: '/api/v1/venues', headers: bearer(testToken({ tenantId, roles: ['admin'] })), payload: { name: `Venue ${randomUUID().slice(0, 8)}`, timezone: 'Europe/London', currency: 'GBP' } })
    if (response.statusCode !== 201) throw new Error(`venue creation failed: ${response.body}`)
    return response.json().id as string
  }

  async function build(t: TestContext, extraEnv: Record<string, string> = {}) {
    const captured = captureLogs('debug')
    const app = createFastify({ service: SERVICE_NAME, loggerInstance: captured.logger })
    await app.register(integrationService, { config: loadConfig({ ...env, ...extraEnv }) })
    await app.ready()
    t.after(() => app.close())
    return { app, logs: captured.lines }
  }

  /** Headers of a user of its own: each test spends its own rate-limit budget. */
  const user = (tenantId: string, roles: Role[], venueIds?: string[]) =>
    bearer(testToken({ tenantId, roles, sub: `${roles[0]}-${randomUUID()}`, ...(venueIds ? { venueIds } : {}) }))

  const count = async (sql: string, params: unknown[] = []) => Number((await db.adminQuery<{ n: string }>(`select count(*)::text as n from ${sql}`, params))[0]?.n ?? 0)
  const outboxCount = (tenantId: string) => count('integration.audit_outbox where tenant_id = $1', [tenantId])
  const storedCounts = async (tenantId: string) => ({
    documents: await count('integration.integration_settings where tenant_id = $1', [tenantId]),
    versions: await count('integration.integration_settings_versions where tenant_id = $1', [tenantId]),
    outbox: await outboxCount(tenantId),
  })

  return { env, db, build, user, venue, outboxCount, storedCounts }
}

/** A secret nobody could produce by accident, to search for in bodies and logs. */
export const distinctiveSecret = (tag: string) => `qbv-${tag}-${randomUUID().replaceAll('-', '')}-ZEBRA`
