// Wires the integration settings store onto the instance; the sync engine reads
// `fastify.settingsService.effective(...)` and subscribes with `settingsService.onChange(...)`.
import fp from 'fastify-plugin'
import { createSettingsRepository } from './settings-repository.ts'
import { createSettingsService, type SettingsService } from './settings-service.ts'
import { assertSettingsKeyVersionsAvailable } from '../secrets/settings-key-rotation.ts'

declare module 'fastify' {
  interface FastifyInstance {
    settingsService: SettingsService
  }
}

export default fp(
  async (fastify) => {
    const service = createSettingsService({ db: fastify.db, repo: createSettingsRepository(), ring: fastify.vault.ring, audit: fastify.auditOutbox, venues: fastify.venues, logger: fastify.log })
    fastify.decorate('settingsService', service)
    // Refuse to start when a secret setting was sealed with a key no longer in the ring.
    fastify.addHook('onReady', async () => assertSettingsKeyVersionsAvailable(fastify.db, fastify.vault.ring))
  },
  { name: 'integration-settings', dependencies: ['@hub/service-kit', 'connections'] },
)
