// Everything a provider call needs for one connection: its adapter, base URL and decrypted
// credentials, with OAuth access tokens refreshed before they expire and after a 401. Refreshes
// are serialized per connection through a Redis lock shared by every process, and the tokens are
// re-read after taking it, so two workers never spend the same (single-use) refresh token.
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import { ConflictError, NotFoundError } from '@hub/contracts'
import type { AuditOutbox, Database } from '@hub/service-kit'
import { ProviderAuthError } from '../../../providers/provider-errors.ts'
import type { ProviderContext } from '../../../providers/provider-adapter.ts'
import type { ProviderBinding, ProviderRegistry } from '../../../providers/registry.ts'
import type { ConnectionRepository, ConnectionRow } from './connection-repository.ts'
import { toProviderCredentials, type CredentialVault, type SecretValues } from '../secrets/credential-vault.ts'

/** Refresh when the access token has less than this left. */
const REFRESH_MARGIN_MS = 5 * 60_000
/**
 * The refresh lock lapses this long after its holder was last heard of, and is renewed every third
 * of it while the holder refreshes: a refresh may outlast it (a provider answering slowly, within
 * its own timeouts), and a lock that lapsed mid-refresh would let a second caller spend the same
 * single-use refresh token. A holder that died frees it within this.
 */
const LOCK_TTL_MS = 30_000
/** How long a caller waits for another's refresh before answering TOKEN_REFRESH_BUSY. */
const LOCK_WAIT_MS = 30_000
const RELEASE_LOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
const RENEW_LOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"

export class ConnectionNotActiveError extends ConflictError {
  constructor(status: string) {
    super('CONNECTION_NOT_ACTIVE', `The connection is ${status}; reconnect it before syncing.`)
  }
}

export interface ConnectionForSync {
  connection: ConnectionRow
  binding: ProviderBinding
  ctx: ProviderContext
}

export function createConnectionContext(deps: {
  db: Pick<Database, 'withTenant'>
  connections: ConnectionRepository
  vault: CredentialVault
  registry: ProviderRegistry
  redis: Redis
  redisPrefix: string
  audit: AuditOutbox
  now?: () => number
  /** The refresh lock's lapse and wait (tests). */
  refreshLock?: { ttlMs: number; waitMs: number }
}) {
  const { db, connections, vault, registry, redis, audit } = deps
  const now = deps.now ?? Date.now
  const lock = deps.refreshLock ?? { ttlMs: LOCK_TTL_MS, waitMs: LOCK_WAIT_MS }

  async function load(tenantId: string, connectionId: string): Promise<ConnectionRow> {
    const row = await db.withTenant(tenantId, (trx) => connections.findById(trx, connectionId))
    if (!row) throw new NotFoundError('CONNECTION_NOT_FOUND', 'No connection with this id exists in your tenant.')
    return row
  }

  const expiring = (row: ConnectionRow) => row.auth_type === 'oauth2' && row.token_expires_at !== null && row.token_expires_at.getTime() - now() < REFRESH_MARGIN_MS

  async function withLock<T>(connectionId: string, fn: () => Promise<T>): Promise<T> {
    const key = `${deps.redisPrefix}lock:oauth-refresh:${connectionId}`
    const token = randomUUID()
    const deadline = now() + lock.waitMs
    while ((await redis.set(key, token, 'PX', lock.ttlMs, 'NX')) !== 'OK') {
      if (now() > deadline) throw new ConflictError('TOKEN_REFRESH_BUSY', 'Another token refresh is still running for this connection.')
      await sleep(50)
    }
    const renew = setInterval(() => void redis.eval(RENEW_LOCK, 1, key, token, lock.ttlMs).catch(() => undefined), Math.max(10, Math.floor(lock.ttlMs / 3)))
    renew.unref()
    try {
      return await fn()
    } finally {
      clearInterval(renew)
      await redis.eval(RELEASE_LOCK, 1, key, token)
    }
  }

  async function markNeedsReauth(tenantId: string, connectionId: string, reason: string): Promise<void> {
    await db.withTenant(tenantId, async (trx) => {
      const before = await connections.findById(trx, connectionId, { forUpdate: true })
      if (!before || before.status === 'needs_reauth' || before.status === 'disconnected') return
      await connections.update(trx, connectionId, { status: 'needs_reauth', statusReason: reason.slice(0, 500) })
      await audit.record(trx, {
        tenantId,
        actorType: 'service',
        actorId: 'integration-service',
        action: 'connection.needs_reauth',
        entityType: 'connection',
        entityId: connectionId,
        before: { status: before.status },
        after: { status: 'needs_reauth', reason },
      })
    })
  }

  /**
   * Refreshes the OAuth tokens unless someone else already did: `staleAccessToken` is the token
   * the caller saw fail or expire; if the stored one differs, that newer one is used as it is.
   */
  async function refresh(tenantId: string, connectionId: string, staleAccessToken: string | undefined): Promise<SecretValues> {
    return withLock(connectionId, async () => {
      const row = await load(tenantId, connectionId)
      const values = vault.open(tenantId, connectionId, row.secrets)
      if (values.accessToken && values.accessToken !== staleAccessToken && !expiring(row)) return values
      const binding = registry[row.provider]
      if (!binding.adapter.oauth || !binding.oauth || !values.refreshToken) {
        await markNeedsReauth(tenantId, connectionId, 'The access token expired and cannot be refreshed.')
        throw new ProviderAuthError(row.provider, 'access token expired and no refresh is possible')
      }
      let tokens
      try {
        tokens = await binding.adapter.oauth.refresh({ authBaseUrl: binding.oauth.authBaseUrl, clientId: binding.oauth.clientId, clientSecret: binding.oauth.clientSecret, refreshToken: values.refreshToken })
      } catch (error) {
        if (error instanceof ProviderAuthError) await markNeedsReauth(tenantId, connectionId, 'The provider refused to refresh the token; reconnect the account.')
        throw error
      }
      const next: SecretValues = { ...values, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken ?? values.refreshToken }
      await db.withTenant(tenantId, async (trx) => {
        await connections.update(trx, connectionId, { sealed: vault.seal(tenantId, connectionId, next), tokenExpiresAt: tokens.expiresAt ? new Date(tokens.expiresAt) : null, status: 'active', statusReason: null })
        await audit.record(trx, { tenantId, actorType: 'service', actorId: 'integration-service', action: 'connection.token_refreshed', entityType: 'connection', entityId: connectionId, after: { tokenExpiresAt: tokens.expiresAt } })
      })
      return next
    })
  }

  return {
    /**
     * The adapter of an active connection, without opening its credentials: for work that needs
     * no provider call (a webhook event that carries its object). Null when the connection is not
     * active (forSync then says why).
     */
    bindingFor(row: ConnectionRow): ProviderBinding | null {
      return row.status === 'disconnected' || row.status === 'needs_reauth' ? null : registry[row.provider]
    },

    /**
     * Loads an active connection and its credentials for a provider call, refreshing if needed.
     * `loaded`: the row as the caller just read it in a transaction of its own (one round trip to
     * Postgres fewer); a refresh reads it again either way.
     */
    async forSync(tenantId: string, connectionId: string, loaded?: ConnectionRow): Promise<ConnectionForSync> {
      let row = loaded ?? (await load(tenantId, connectionId))
      if (row.status === 'disconnected' || row.status === 'needs_reauth') throw new ConnectionNotActiveError(row.status)
      let values = vault.open(tenantId, connectionId, row.secrets)
      if (expiring(row)) {
        values = await refresh(tenantId, connectionId, values.accessToken)
        row = await load(tenantId, connectionId)
      }
      const binding = registry[row.provider]
      return { connection: row, binding, ctx: { credentials: toProviderCredentials(values, { accountId: row.account_id, provider: row.provider, meta: row.provider_meta }), baseUrl: binding.baseUrl } }
    },

    /**
     * After the provider refused the credentials: one refresh for OAuth connections (true: retry
     * the call), otherwise the connection is marked needs_reauth (false: stop).
     */
    async onAuthFailure(tenantId: string, connectionId: string, failedAccessToken: string | undefined): Promise<boolean> {
      const row = await load(tenantId, connectionId)
      if (row.auth_type === 'oauth2' && failedAccessToken) {
        try {
          await refresh(tenantId, connectionId, failedAccessToken)
          return true
        } catch {
          return false
        }
      }
      await markNeedsReauth(tenantId, connectionId, 'The provider refused the credentials; update them to resume syncing.')
      return false
    },

    refresh,
    markNeedsReauth,
  }
}

export type ConnectionContext = ReturnType<typeof createConnectionContext>
