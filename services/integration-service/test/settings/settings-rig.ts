// Shared set-up for the settings tests: a fresh database and Redis prefix per file (helpers.ts), an
// app per test whose log lines are captured, and small request helpers.
import { after, type TestContext } from 'node:test'
import { randomUUID } from 'node:crypto'
import { createFastify } from '@hub/service-kit'
import { bearer, captureLogs, createFakeVenueService, testToken } from '@hub/service-kit/testing'
import integrationService, { SERVICE_NAME } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { setupIntegrationTests } from '../helpers.ts'

export type Role = 'admin' | 'manager' | 'viewer'

export async function setupSettingsRig() {
  const { env: integrationEnv, db } = await setupIntegrationTests()
  // Venue-scoped settings need the venue to exist in the tenant: a fake venue-service answers the
  // internal venue lookup (its contract, signed and permitted as the real one).
  const venues = await createFakeVenueService({ redisPrefix: integrationEnv.REDIS_KEY_PREFIX ?? '' })
  const env: Record<string, string> = { ...integrationEnv, VENUE_SERVICE_URL: await venues.start() }
  after(() => venues.stop())

  /** A venue of `tenantId`, known to venue-service; returns its id. */
  async function venue(tenantId: string): Promise<string> {
    return venues.addVenue(tenantId)
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
  const user = (tenantId: string, roles: Role[], venueIds?: string[]) => bearer(testToken({ tenantId, roles, sub: `${roles[0]}-${randomUUID()}`, ...(venueIds ? { venueIds } : {}) }))

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
