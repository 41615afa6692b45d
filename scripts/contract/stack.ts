// The three services in one process on one test database and Redis prefix, each listening on a
// loopback port so they can call each other, plus the merged public OpenAPI document built the
// way the gateway builds it. Used by the OpenAPI lint and the fuzz suite (run under node:test:
// everything is closed and dropped when the run ends).
import { after } from 'node:test'
import { randomUUID } from 'node:crypto'
import { generateKeyRingJson } from '@hub/crypto'
import { createFastify, type ServiceInstance } from '@hub/service-kit'
import { createTestDatabase, deleteRedisPrefix, freePort, listenLocal, testRedisPrefix, testServiceEnv, testToken, bearer } from '@hub/service-kit/testing'
import venueService from '../../services/venue-service/src/app.ts'
import { loadConfig as loadVenueConfig } from '../../services/venue-service/src/config.ts'
import { VENUE_SCHEMA } from '../../services/venue-service/src/db/schema.ts'
import integrationService from '../../services/integration-service/src/app.ts'
import { loadConfig as loadIntegrationConfig } from '../../services/integration-service/src/config.ts'
import { INTEGRATION_SCHEMA } from '../../services/integration-service/src/db/schema.ts'
import complianceService from '../../services/compliance-service/src/app.ts'
import { loadConfig as loadComplianceConfig } from '../../services/compliance-service/src/config.ts'
import { COMPLIANCE_SCHEMA } from '../../services/compliance-service/src/db/schema.ts'
import { mergeOpenApiDocuments, type OpenApiDocument } from '../../services/api-gateway/src/plugins/app/openapi-merge.ts'
import type { Upstream } from '../../services/api-gateway/src/plugins/app/upstreams.ts'

export interface Stack {
  apps: Record<'venue' | 'integration' | 'compliance', ServiceInstance>
  /** Which app answers a public path. */
  appFor(path: string): ServiceInstance
  document: OpenApiDocument
  tenantId: string
  adminHeaders: Record<string, string>
}

export async function startStack(): Promise<Stack> {
  const db = await createTestDatabase([VENUE_SCHEMA, INTEGRATION_SCHEMA, COMPLIANCE_SCHEMA])
  const prefix = testRedisPrefix()
  const common = testServiceEnv(prefix)
  const [venuePort, integrationPort, compliancePort] = await Promise.all([freePort(), freePort(), freePort()])
  const url = (port: number) => `http://127.0.0.1:${port}`
  const build = () => createFastify({ service: 'contract', logLevel: process.env.TEST_LOG_LEVEL ?? 'silent' })

  const venue = build()
  const integration = build()
  const compliance = build()
  after(async () => {
    await Promise.all([venue.close(), integration.close(), compliance.close()])
    await db.drop()
    await deleteRedisPrefix(prefix)
  })
  await venue.register(venueService, {
    config: loadVenueConfig({ ...common, DATABASE_URL: db.urlFor(VENUE_SCHEMA.appRole), COMPLIANCE_SERVICE_URL: url(compliancePort), INTEGRATION_SERVICE_URL: url(integrationPort) }),
  })
  await integration.register(integrationService, {
    config: loadIntegrationConfig({
      ...common,
      DATABASE_URL: db.urlFor(INTEGRATION_SCHEMA.appRole),
      ENCRYPTION_KEYS: generateKeyRingJson([1]),
      VENUE_SERVICE_URL: url(venuePort),
      COMPLIANCE_SERVICE_URL: url(compliancePort),
      // Nothing generated here may reach a real provider: nothing listens on port 9.
      STRIPE_API_BASE: 'http://127.0.0.1:9',
      SQUARE_API_BASE: 'http://127.0.0.1:9',
      MAILCHIMP_API_BASE: 'http://127.0.0.1:9',
      QUICKBOOKS_API_BASE: 'http://127.0.0.1:9',
    }),
  })
  await compliance.register(complianceService, {
    config: loadComplianceConfig({ ...common, DATABASE_URL: db.urlFor(COMPLIANCE_SCHEMA.appRole), SYNC_LOG_CONSUMER: 'false', INTEGRATION_SERVICE_URL: url(integrationPort), VENUE_SERVICE_URL: url(venuePort) }),
  })
  await listenLocal(venue, venuePort)
  await listenLocal(integration, integrationPort)
  await listenLocal(compliance, compliancePort)

  const upstreams: Upstream[] = [
    { name: 'venue-service', url: url(venuePort), prefixes: ['/api/v1/venues'] },
    { name: 'integration-service', url: url(integrationPort), prefixes: ['/api/v1/integrations'] },
    { name: 'compliance-service', url: url(compliancePort), prefixes: ['/api/v1/compliance'] },
  ]
  const document = mergeOpenApiDocuments([venue, integration, compliance].map((app) => app.swagger() as unknown as OpenApiDocument), upstreams)
  const tenantId = randomUUID()
  const apps = { venue, integration, compliance }
  return {
    apps,
    appFor: (path) => (path.startsWith('/api/v1/venues') ? venue : path.startsWith('/api/v1/integrations') ? integration : compliance),
    document,
    tenantId,
    adminHeaders: bearer(testToken({ tenantId, roles: ['admin'], sub: randomUUID() })),
  }
}
