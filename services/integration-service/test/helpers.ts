import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { TEST_INTERNAL_KEYS, setupServiceTests, type ServiceTests } from '@hub/service-kit/testing'
import { generateKeyRingJson } from '@hub/crypto'
import { signRequest } from '@hub/internal-auth'
import integrationService, { SERVICE_NAME } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { INTEGRATION_SCHEMA } from '../src/db/schema.ts'

export function setupIntegrationTests(): Promise<ServiceTests> {
  return setupServiceTests({
    service: SERVICE_NAME,
    schemas: [INTEGRATION_SCHEMA],
    env: (db) => ({
      DATABASE_URL: db.urlFor(INTEGRATION_SCHEMA.appRole),
      ENCRYPTION_KEYS: generateKeyRingJson([1]),
      // Nothing listens here: security events are dropped quietly in these tests.
      COMPLIANCE_SERVICE_URL: 'http://127.0.0.1:9',
      VENUE_SERVICE_URL: 'http://127.0.0.1:9',
    }),
    register: (app, env) => app.register(integrationService, { config: loadConfig(env) }),
  })
}

/** Headers of a call signed as `service` with its test key. */
export function signedAs(service: keyof typeof TEST_INTERNAL_KEYS, method: string, pathWithQuery: string, body?: string): Record<string, string> {
  return signRequest({ service, keyId: 'k1', secret: TEST_INTERNAL_KEYS[service].k1, method, pathWithQuery, body: body ?? '' }) as unknown as Record<string, string>
}

/** A step of a race: `reached` settles once `fire` is called (Promise.withResolvers is Node 22+). */
export function signal(): { reached: Promise<void>; fire: () => void } {
  let fire = () => {}
  const reached = new Promise<void>((resolve) => (fire = resolve))
  return { reached, fire }
}

/** Polls `probe` every 100 ms until it returns something truthy; fails naming `what` after `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value) return value
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`)
    await sleep(100)
  }
}
