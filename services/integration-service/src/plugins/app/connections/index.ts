// Wires the connection layers (registry, vault, repository, context) onto the instance; shared by
// the API process and the worker process.
import fp from 'fastify-plugin'
import { KeyRing } from '@hub/crypto'
import { createAuditOutbox, type AuditOutbox } from '@hub/service-kit'
import { createProviderRegistry, type ProviderRegistry, type RegistryConfig } from '../../../providers/registry.ts'
import type { ProviderAdapter } from '../../../providers/provider-adapter.ts'
import type { ProviderName } from '../../../providers/canonical.ts'
import { createCredentialVault, type CredentialVault } from '../secrets/credential-vault.ts'
import { createConnectionRepository, type ConnectionRepository } from './connection-repository.ts'
import { createConnectionContext, type ConnectionContext } from './connection-context.ts'
import { createConnectionService, type ConnectionService } from './connection-service.ts'
import { createOAuthService, type OAuthService } from './oauth-service.ts'
import { createOAuthStateRepository } from './oauth-state-repository.ts'
import { assertKeyVersionsAvailable } from '../secrets/connection-key-rotation.ts'
import { INTEGRATION_TABLES } from '../../../db/schema.ts'
import { venueClient, type VenueClient } from '@hub/contracts'

declare module 'fastify' {
  interface FastifyInstance {
    providers: ProviderRegistry
    vault: CredentialVault
    connections: ConnectionRepository
    connectionContext: ConnectionContext
    auditOutbox: AuditOutbox
    /** venue-service, asked whether a venue exists in a tenant (connections and settings). */
    venues: VenueClient
    connectionService: ConnectionService
    oauthService: OAuthService
    /** Hooks run after a connection is disconnected (the sync engine drops its schedules). */
    connectionDisconnectHooks: Array<(tenantId: string, connectionId: string) => Promise<void>>
    /** Hooks run after a connection turns active (its syncs get scheduled). */
    connectionConnectHooks: Array<(tenantId: string, connectionId: string) => Promise<void>>
  }
}

export interface ConnectionsPluginOptions {
  config: RegistryConfig & { ENCRYPTION_KEYS: string; VENUE_SERVICE_URL: string; PUBLIC_URL: string; OAUTH_RETURN_URL: string }
  /** Tests swap an adapter in by construction. */
  adapters?: Partial<Record<ProviderName, ProviderAdapter>>
}

export default fp(
  async (fastify, opts: ConnectionsPluginOptions) => {
    const providers = createProviderRegistry(opts.config, opts.adapters)
    const vault = createCredentialVault(KeyRing.fromEnv(opts.config.ENCRYPTION_KEYS))
    const connections = createConnectionRepository()
    const auditOutbox = createAuditOutbox(INTEGRATION_TABLES.auditOutbox)
    fastify.decorate('providers', providers)
    fastify.decorate('vault', vault)
    fastify.decorate('connections', connections)
    fastify.decorate('auditOutbox', auditOutbox)
    const context = createConnectionContext({ db: fastify.db, connections, vault, registry: providers, redis: fastify.redis, redisPrefix: fastify.redisPrefix, audit: auditOutbox })
    fastify.decorate('connectionContext', context)
    const disconnectHooks: Array<(tenantId: string, connectionId: string) => Promise<void>> = []
    fastify.decorate('connectionDisconnectHooks', disconnectHooks)
    const connectHooks: Array<(tenantId: string, connectionId: string) => Promise<void>> = []
    fastify.decorate('connectionConnectHooks', connectHooks)
    const venues = venueClient(fastify.internalClient(opts.config.VENUE_SERVICE_URL))
    fastify.decorate('venues', venues)
    const connectionService = createConnectionService({
      db: fastify.db,
      connections,
      vault,
      registry: providers,
      context,
      venues,
      audit: auditOutbox,
      publicUrl: opts.config.PUBLIC_URL,
      onDisconnected: disconnectHooks,
      onConnected: connectHooks,
      logger: fastify.log,
    })
    fastify.decorate('connectionService', connectionService)
    fastify.decorate(
      'oauthService',
      createOAuthService({
        db: fastify.db,
        states: createOAuthStateRepository(),
        registry: providers,
        ring: vault.ring,
        connections: connectionService,
        securityEvents: fastify.securityEvents,
        publicUrl: opts.config.PUBLIC_URL,
        returnUrl: opts.config.OAUTH_RETURN_URL,
        logger: fastify.log,
      }),
    )
    // Refuse to start when a stored secret was sealed with a key no longer in the ring.
    fastify.addHook('onReady', async () => assertKeyVersionsAvailable(fastify.db, vault.ring))
  },
  { name: 'connections', dependencies: ['@hub/service-kit', '@hub/internal'] },
)
