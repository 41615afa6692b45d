// Service-to-service calls: verifies signed requests on routes that opt in (config.internalAuth)
// and hands out signed clients for calling other services, signing with this service's newest key.
import fp from 'fastify-plugin'
import { createInternalClient, internalAuth, newestKey, parseInternalAuthKeys, type InternalClient } from '@hub/internal-auth'
import type { SecurityEventInput } from '@hub/contracts'

declare module 'fastify' {
  interface FastifyInstance {
    /** A signed client for another service's base URL (one per URL, reused). */
    internalClient(baseUrl: string): InternalClient
  }
}

export interface InternalOptions {
  service: string
  keysJson: string
  /** Permissions each calling service holds on this service's internal routes. */
  permissions: Record<string, readonly string[]>
}

export default fp(
  async (fastify, opts: InternalOptions) => {
    const keys = parseInternalAuthKeys(opts.keysJson)
    await fastify.register(internalAuth, {
      keys,
      permissions: opts.permissions,
      redis: fastify.redis,
      noncePrefix: `${fastify.redisPrefix}nonce:`,
      source: opts.service,
      onRefusal: (event: SecurityEventInput) => fastify.securityEvents.report(event),
    })
    const clients = new Map<string, InternalClient>()
    fastify.decorate('internalClient', (baseUrl: string) => {
      let client = clients.get(baseUrl)
      if (!client) {
        const key = newestKey(keys, opts.service)
        client = createInternalClient({ service: opts.service, keyId: key.keyId, secret: key.secret, baseUrl })
        clients.set(baseUrl, client)
      }
      return client
    })
  },
  { name: '@hub/internal', fastify: '5.x', dependencies: ['@hub/redis', '@hub/security-events'] },
)
