// A full rig for connection tests: a fake venue-service (the internal venue contract), the four
// provider simulators and integration-service, on one fresh database and Redis prefix. That the real
// venue-service's deletion disconnects at the provider is proven across processes in e2e/.
import { after } from 'node:test'
import { createFastify, type ServiceInstance } from '@hub/service-kit'
import type { captureLogs } from '@hub/service-kit/testing'
import { TEST_INTERNAL_KEYS, createFakeVenueService, createTestDatabase, deleteRedisPrefix, testRedisPrefix, testServiceEnv, freePort, listenLocal } from '@hub/service-kit/testing'
import { generateKeyRingJson } from '@hub/crypto'
import { integrationClient } from '@hub/contracts'
import { createInternalClient } from '@hub/internal-auth'
import { createMailchimpSimulator, createQuickBooksSimulator, createSquareSimulator, createStripeSimulator } from '@hub/provider-simulators'
import integrationService, { type IntegrationServiceOptions } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { INTEGRATION_SCHEMA } from '../../src/db/schema.ts'
import type { ProviderAdapter } from '../../src/providers/provider-adapter.ts'
import { signal } from '../helpers.ts'

export const RETURN_URL = 'https://app.example.test/integrations/done'

export async function setupRig() {
  // Providers call the hub back (Mailchimp checks the webhook URL): the app listening here is "public".
  const publicPort = await freePort()
  const PUBLIC_URL = `http://127.0.0.1:${publicPort}`
  const db = await createTestDatabase([INTEGRATION_SCHEMA])
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
  const venues = await createFakeVenueService({ redisPrefix: prefix })
  const venueUrl = await venues.start()
  closers.push(() => venues.stop())

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
    /** `listen` puts this app at the public URL (one at a time per rig); `adapters` swaps provider adapters in. */
    async build(extra: Record<string, string> = {}, options: { capture?: ReturnType<typeof captureLogs>; listen?: boolean; adapters?: IntegrationServiceOptions['adapters'] } = {}): Promise<ServiceInstance> {
      const app = options.capture ? createFastify({ service: 'integration-service', loggerInstance: options.capture.logger }) : createFastify({ service: 'integration-service', logLevel: process.env.TEST_LOG_LEVEL ?? 'silent' })
      await app.register(integrationService, { config: loadConfig({ ...env, ...extra }), ...(options.adapters ? { adapters: options.adapters } : {}) })
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
    venues,
    /** A venue of the tenant, known to venue-service; returns its id. */
    async createVenue(tenantId: string): Promise<string> {
      return venues.addVenue(tenantId)
    },
    /**
     * What venue-service does when an admin deletes a venue: asks integration-service (listening at
     * the public URL) to disconnect the venue's connections, signed as venue-service, then forgets it.
     */
    async deleteVenue(tenantId: string, venueId: string) {
      const integration = integrationClient(createInternalClient({ service: 'venue-service', keyId: 'k1', secret: TEST_INTERNAL_KEYS['venue-service'].k1, baseUrl: PUBLIC_URL, retries: 0 }))
      const result = await integration.disconnectVenue(tenantId, venueId)
      venues.removeVenue(venueId)
      return result
    },
  }
}

export type Rig = Awaited<ReturnType<typeof setupRig>>

type HeldMethod = 'verifyCredentials' | 'registerWebhook' | 'removeWebhook'

/**
 * A real adapter whose next call of one method is held until released, for races: a verification
 * or a webhook registration is held once the provider has answered it, a removal before it is sent.
 */
export function holdable(real: ProviderAdapter) {
  let held: { method: HeldMethod; reached: () => void; release: Promise<void> } | null = null
  async function pass(method: HeldMethod): Promise<void> {
    if (held?.method !== method) return
    const { reached, release } = held
    held = null
    reached()
    await release
  }
  const adapter: ProviderAdapter = {
    ...real,
    async verifyCredentials(ctx) {
      const account = await real.verifyCredentials(ctx)
      await pass('verifyCredentials')
      return account
    },
    async registerWebhook(ctx, url) {
      const registration = await real.registerWebhook(ctx, url)
      await pass('registerWebhook')
      return registration
    },
    async removeWebhook(ctx, endpointId) {
      await pass('removeWebhook')
      return real.removeWebhook(ctx, endpointId)
    },
  }
  return {
    adapter,
    /** Holds the next call of `method`: `reached` settles when it is held, `release()` lets it go on. */
    holdNext(method: HeldMethod) {
      const reached = signal()
      const release = signal()
      held = { method, reached: reached.fire, release: release.reached }
      return { reached: reached.reached, release: release.fire }
    },
  }
}
