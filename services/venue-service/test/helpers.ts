import { setupServiceTests, type ServiceTests } from '@hub/service-kit/testing'
import venueService, { SERVICE_NAME } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { VENUE_SCHEMA } from '../src/db/schema.ts'

export function setupVenueTests(): Promise<ServiceTests> {
  return setupServiceTests({
    service: SERVICE_NAME,
    schemas: [VENUE_SCHEMA],
    env: (db) => ({ DATABASE_URL: db.urlFor(VENUE_SCHEMA.appRole) }),
    register: (app, env) => app.register(venueService, { config: loadConfig(env) }),
  })
}
