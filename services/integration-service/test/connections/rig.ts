// A full rig for connection tests: the real venue-service, the four provider simulators and
// integration-service, on one fresh database and Redis prefix.
import { after } from 'node:test'
import { createFastify, type ServiceInstance } from '@hub/service-kit'
import type { captureLogs} from '@hub/service-kit/testing';
import { bearer, createTestDatabase, deleteRedisPrefix, testRedisPrefix, testToken, testServiceEnv, freePort, listenLocal } from '@hub/service-kit/testing'
import { generateKeyRingJson } from '@hub/crypto'
import { createMailchimpSimulator, createQuickBooksSimulator, createSquareSimulator, createStripeSimulator } from '@hub/provider-simulators'
import venueService from '../../../venue-service/src/app.ts'
import { loadConfig as loadVenueConfig } from '../../../venue-service/src/config.ts'
import { VENUE_SCHEMA } from '../../../venue-service/src/db/schema.ts'
import integrationService from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { INTEGRATION_SCHEMA } from '../../src/db/schema.ts'

export const RETURN_URL = 'https://app.example.test/integrations/done'



export async function setupRig() {
  // Providers call the hub back (Mailchimp checks the webhook URL): the app listening here is "public".
  const publicPort = await freePort()
  const PUBLIC_URL = `http://127.0.0.1:${publicPort}`
  const db = await createTestDatabase([VENUE_SCHEMA, INTEGRATION_SCHEMA])
  const prefix = testRedisPrefix()
  const closers: Array<() => Promise<unknown>> = []
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined)
    await db.drop()
    await deleteRedisPrefix(prefix)
  })
  const common = {
    ...testServiceEnv(prefix),
  }
  // venue-service tells integration-service when a venue is deleted: at the public URL, where a
  // test puts integration-service with `build(…, { listen: true })`.
  const buildVenueService = async (integrationUrl: string) => {
    const app = createFastify({ service: 'venue-service', logLevel: 'silent' })
    await app.register(venueService, { config: loadVenueConfig({ ...common, DATABASE_URL: db.urlFor(VENUE_SCHEMA.appRole), INTEGRATION_SERVICE_URL: integrationUrl }) })
    closers.push(() => app.close())
    return app
  }
  const venue = await buildVenueService(PUBLIC_URL)
  const venueUrl = await listenLocal(venue)

  const sims = {
    stripe: await createStripeSimulator({ recordsPerEntity: 20 }),
    square: await createSquareSimulator({ recordsPerEntity: 20 }),
    mailchimp: await createMailchimpSimulator({ recordsPerEntity: 20 }),
    quickbooks: await createQuickBooksSimulator({ recordsPerEntity: 20 }),
  }
  const simUrls: Record<keyof typeof sims, string> = { stripe: '', square: '', mailchimp: '', quickbooks: '' }
  for (const name of Object.keys(sims) as Array<keyof typeof sims>) {
    simUrls[name] = await listenLocal(sims[name])
    closers.push(() => sims[name].close())
  }

  const encryptionKeys = generateKeyRingJson([1])
  const env: Record<string, string> = {
    ...common,
    DATABASE_URL: db.urlFor(INTEGRATION_SCHEMA.appRole),
    ENCRYPTION_KEYS: encryptionKeys,
    VENUE_SERVICE_URL: venueUrl,
    COMPLIANCE_SERVICE_URL: 'http://127.0.0.1:9',
    PUBLIC_URL,
    OAUTH_RETURN_URL: RETURN_URL,
    STRIPE_API_BASE: simUrls.stripe,
    SQUARE_API_BASE: simUrls.square,
    MAILCHIMP_API_BASE: simUrls.mailchimp,
    QUICKBOOKS_API_BASE: simUrls.quickbooks,
    STRIPE_CONNECT_CLIENT_ID: 'ca_testplatform000000000000000',
    STRIPE_PLATFORM_SECRET_KEY: 'sk_test_platformsecret0000000000',
    SQUARE_CLIENT_ID: 'sq0idp-testclient000000000000',
    SQUARE_CLIENT_SECRET: 'sq0csp-testsecret000000000000',
    MAILCHIMP_CLIENT_ID: '123456789012',
    MAILCHIMP_CLIENT_SECRET: 'mailchimp-test-client-secret',
    QUICKBOOKS_CLIENT_ID: 'ABqbtestclientid0000000000',
    QUICKBOOKS_CLIENT_SECRET: 'qbo-test-client-secret-000',
    QUICKBOOKS_WEBHOOK_VERIFIER: 'qbo-verifier-token-000000',
  }

  return {
    db,
    env,
    sims,
    simUrls,
    venueUrl,
    /** Builds integration-service; pass `capture` to keep every log line for leak checks. */
    publicUrl: PUBLIC_URL,
    /** `listen` puts this app at the public URL (one at a time per rig). */
    async build(extra: Record<string, string> = {}, options: { capture?: ReturnType<typeof captureLogs>; listen?: boolean } = {}): Promise<ServiceInstance> {
      const app = options.capture ? createFastify({ service: 'integration-service', loggerInstance: options.capture.logger }) : createFastify({ service: 'integration-service', logLevel: process.env.TEST_LOG_LEVEL ?? 'silent' })
      await app.register(integrationService, { config: loadConfig({ ...env, ...extra }) })
      closers.push(() => app.close())
      try {
        if (options.listen) await listenLocal(app, publicPort)
        else await app.ready()
      } catch (error) {
        // A refused start-up must still release its connections, or the test process never exits.
        await app.close().catch(() => undefined)
        throw error
      }
      return app
    },
    venue,
    /** Another venue-service on the same database, telling integration-service at `integrationUrl`. */
    buildVenueService,
    /** Creates a venue through the real venue-service and returns its id. */
    async createVenue(tenantId: string, name = `Venue ${Math.random().toString(36).slice(2, 8)}`): Promise<string> {
      const response = await venue.inject({ method: 'POST', url: '/api/v1/venues', headers: bearer(testToken({ tenantId, roles: ['admin'] })), payload: { name, timezone: 'Europe/London', currency: 'GBP' } })
      if (response.statusCode !== 201) throw new Error(`venue creation failed: ${response.body}`)
      return response.json().id as string
    },
  }
}

export type Rig = Awaited<ReturnType<typeof setupRig>>
