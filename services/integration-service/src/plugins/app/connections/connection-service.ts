// Connection rules: a venue must exist in the caller's tenant, credentials are verified with the
// provider before anything is stored, the hub's webhook endpoint is registered at the provider,
// and every touch is audited in the same transaction as the change.
import { randomUUID } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import type { VenueClient } from '@hub/contracts'
import { auditActor, canManageVenue, CursorField, hasRole, page, readCursor, type AuditEvent, type AuditOutbox, type Database, type RequestContext } from '@hub/service-kit'
import type { ProviderName } from '../../../providers/canonical.ts'
import type { OAuthTokens, ProviderContext, ProviderCredentials } from '../../../providers/provider-adapter.ts'
import { ProviderAuthError, ProviderError, ProviderInvalidError } from '../../../providers/provider-errors.ts'
import type { ProviderRegistry } from '../../../providers/registry.ts'
import type { ConnectionListFilter, ConnectionRepository, ConnectionRow } from './connection-repository.ts'
import { toProviderCredentials, type CredentialVault, type SecretValues } from '../secrets/credential-vault.ts'
import type { ConnectionContext } from './connection-context.ts'
import type { ConnectionView, CreateConnection, ListConnections, UpdateConnection } from '../../../schemas/connection.ts'
import { AlreadyConnectedError, ConnectionDisconnectedError, ConnectionNotFoundError, CredentialsRejectedError, MalformedCredentialsError, OAuthRequiredError, ProviderUnreachableError, VenueNotFoundError } from './connection-errors.ts'
import { assertVenueAccess, VenueAccessDeniedError } from './venue-access.ts'

const CursorSchema = Type.Object({ c: CursorField.timestamp(), i: CursorField.uuid() })

export function toConnectionView(row: ConnectionRow): ConnectionView {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    venueId: row.venue_id,
    provider: row.provider,
    authType: row.auth_type,
    status: row.status,
    statusReason: row.status_reason,
    accountId: row.account_id,
    accountName: row.account_name,
    credentials: Object.fromEntries(Object.entries(row.masked ?? {}).filter(([, value]) => typeof value === 'string')) as Record<string, string>,
    webhook: { registered: row.webhook_endpoint_id !== null, endpointId: row.webhook_endpoint_id },
    tokenExpiresAt: row.token_expires_at ? row.token_expires_at.toISOString() : null,
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    disconnectedAt: row.disconnected_at ? row.disconnected_at.toISOString() : null,
  }
}

/** Provider failures while connecting, as the client should see them. */
function connectFailure(provider: ProviderName, error: unknown): Error {
  if (error instanceof ProviderAuthError || error instanceof ProviderInvalidError) return new CredentialsRejectedError(provider)
  if (error instanceof ProviderError) return new ProviderUnreachableError(provider)
  return error as Error
}

export function createConnectionService(deps: {
  db: Pick<Database, 'withTenant' | 'withSystemScope'>
  connections: ConnectionRepository
  vault: CredentialVault
  registry: ProviderRegistry
  context: Pick<ConnectionContext, 'forSync'>
  venues: Pick<VenueClient, 'getVenue'>
  audit: AuditOutbox
  publicUrl: string
  /** Called after a connection is disconnected (the sync engine drops its schedules). */
  onDisconnected?: Array<(tenantId: string, connectionId: string) => Promise<void>>
  /** Called after a connection turns active (the sync engine schedules it). Failures are logged. */
  onConnected?: Array<(tenantId: string, connectionId: string) => Promise<void>>
  logger?: { warn(obj: object, msg?: string): void; info?(obj: object, msg?: string): void }
}) {
  const { db, connections, vault, registry, audit } = deps
  // QuickBooks has one endpoint per app (Intuit's portal holds one URL; events carry their realm).
  const webhookUrl = (provider: ProviderName, connectionId: string) => `${deps.publicUrl.replace(/\/$/, '')}/api/v1/integrations/webhooks/${provider === 'quickbooks' ? provider : `${provider}/${connectionId}`}`
  async function connected(tenantId: string, connectionId: string): Promise<void> {
    for (const hook of deps.onConnected ?? []) {
      await hook(tenantId, connectionId).catch((error: unknown) => deps.logger?.warn({ connectionId, err: { message: (error as Error).message } }, 'post-connect hook failed'))
    }
  }

  async function requireVenue(ctx: RequestContext, venueId: string): Promise<void> {
    if (!canManageVenue(ctx.principal, venueId)) {
      // Outside a manager's venue_ids: refused, without saying whether the venue exists.
      throw new VenueAccessDeniedError()
    }
    const venue = await deps.venues.getVenue(ctx.principal.tenantId, venueId).catch((error: unknown) => {
      deps.logger?.warn({ err: { message: (error as Error).message } }, 'venue-service lookup failed')
      throw new ProviderUnreachableError('venue-service', 'could not be reached to check the venue')
    })
    if (!venue) throw new VenueNotFoundError()
  }

  async function loadVisible(ctx: RequestContext, id: string, forWrite: boolean): Promise<ConnectionRow> {
    const row = await db.withTenant(ctx.principal.tenantId, (trx) => connections.findById(trx, id))
    if (!row) throw new ConnectionNotFoundError()
    assertVenueAccess(ctx.principal, row.venue_id, forWrite ? 'manage' : 'read', () => new ConnectionNotFoundError())
    return row
  }

  function checkKey(provider: ProviderName, apiKey: string): void {
    const auth = registry[provider].adapter.auth
    if (auth.type !== 'api_key') throw new OAuthRequiredError(provider)
    if (!auth.keyPattern.test(apiKey)) throw new MalformedCredentialsError(provider)
  }

  const contextFor = (provider: ProviderName, credentials: ProviderCredentials): ProviderContext => ({ credentials, baseUrl: registry[provider].baseUrl })

  /** Registers the hub's endpoint unless the caller brought a secret; a failure does not block. */
  async function registerWebhook(provider: ProviderName, connectionId: string, ctx: ProviderContext, supplied: string | undefined): Promise<{ endpointId: string | null; secret: string | undefined; problem: string | null }> {
    if (supplied) return { endpointId: null, secret: supplied, problem: null }
    try {
      const registration = await registry[provider].adapter.registerWebhook(ctx, webhookUrl(provider, connectionId))
      return { endpointId: registration.endpointId, secret: registration.secret ?? undefined, problem: null }
    } catch (error) {
      deps.logger?.warn({ provider, connectionId, err: { message: (error as Error).message } }, 'webhook registration failed')
      return { endpointId: null, secret: undefined, problem: 'The webhook endpoint could not be registered at the provider; scheduled syncs still run.' }
    }
  }

  async function removeWebhookQuietly(row: Pick<ConnectionRow, 'provider' | 'webhook_endpoint_id'>, ctx: ProviderContext): Promise<void> {
    if (!row.webhook_endpoint_id) return
    await registry[row.provider].adapter.removeWebhook(ctx, row.webhook_endpoint_id).catch((error: unknown) => {
      deps.logger?.warn({ provider: row.provider, err: { message: (error as Error).message } }, 'webhook removal failed')
    })
  }

  /** The provider context of a stored row, with its secrets as opened. */
  const contextOfRow = (row: ConnectionRow, values: SecretValues): ProviderContext => contextFor(row.provider, toProviderCredentials(values, { accountId: row.account_id, provider: row.provider, meta: row.provider_meta }))

  /**
   * Revokes an OAuth connection's grant at the provider, best effort (a disconnect does this). A
   * grant is the (account, hub app) pair's — Square revokes every token of the seller and app,
   * Intuit disconnects the app from the company — so while another live OAuth connection of any
   * venue uses the same account, revoking would cut that one off too: the grant is left to it.
   */
  async function revokeGrantQuietly(row: Pick<ConnectionRow, 'id' | 'provider' | 'auth_type' | 'account_id'>, values: SecretValues): Promise<void> {
    const binding = registry[row.provider]
    if (row.auth_type !== 'oauth2' || !binding.adapter.oauth || !binding.oauth) return
    const token = values.refreshToken ?? values.accessToken
    if (!token) return
    if (row.account_id) {
      const account = row.account_id
      const sharing = (await db.withSystemScope((trx) => connections.listLiveByRealms(trx, row.provider, [account]))).filter((other) => other.id !== row.id && other.auth_type === 'oauth2')
      if (sharing.length > 0) {
        deps.logger?.info?.({ provider: row.provider, connectionId: row.id, sharedWith: sharing.length }, 'grant kept: another live connection uses the same account')
        return
      }
    }
    await binding.adapter.oauth.revoke({ authBaseUrl: binding.oauth.authBaseUrl, clientId: binding.oauth.clientId, clientSecret: binding.oauth.clientSecret, token, accountId: row.account_id }).catch((error: unknown) => {
      deps.logger?.warn({ provider: row.provider, err: { message: (error as Error).message } }, 'token revocation failed')
    })
  }

  /**
   * Disconnects one connection: the provider forgets its webhook and (OAuth) tokens, best effort,
   * then the secrets are destroyed and the change audited once. The row is re-read under a lock,
   * so two disconnects racing (a manager and a venue deletion) leave one audit row, not two; and
   * what a credential update or an OAuth completion stored after `current` was read (a webhook
   * endpoint in another account, other tokens) is released at the provider as well.
   */
  async function retire(current: ConnectionRow, who: Omit<AuditEvent, 'action' | 'entityType' | 'entityId' | 'before' | 'after'>): Promise<boolean> {
    const tenantId = current.tenant_id
    const values = vault.open(tenantId, current.id, current.secrets)
    await removeWebhookQuietly(current, contextOfRow(current, values))
    await revokeGrantQuietly(current, values)
    const locked = await db.withTenant(tenantId, async (trx) => {
      const before = await connections.findById(trx, current.id, { forUpdate: true })
      if (!before || before.status === 'disconnected') return null
      const row = await connections.update(trx, current.id, { status: 'disconnected', statusReason: null, sealed: { secrets: {}, masked: {}, minKeyVersion: null }, disconnectedAt: new Date(), webhookEndpointId: null, tokenExpiresAt: null })
      await audit.record(trx, { ...who, action: 'connection.disconnected', entityType: 'connection', entityId: current.id, before: toConnectionView(before), after: toConnectionView(row) })
      return before
    })
    if (!locked) return false
    if (locked.webhook_endpoint_id !== current.webhook_endpoint_id || locked.secrets.accessToken !== current.secrets.accessToken || locked.secrets.refreshToken !== current.secrets.refreshToken) {
      try {
        const stored = vault.open(tenantId, locked.id, locked.secrets)
        if (locked.webhook_endpoint_id !== current.webhook_endpoint_id) await removeWebhookQuietly(locked, contextOfRow(locked, stored))
        if (stored.accessToken !== values.accessToken || stored.refreshToken !== values.refreshToken) await revokeGrantQuietly(locked, stored)
      } catch (error) {
        deps.logger?.warn({ connectionId: current.id, err: { message: (error as Error).message } }, 'releasing credentials stored meanwhile failed')
      }
    }
    for (const hook of deps.onDisconnected ?? []) await hook(tenantId, current.id)
    return true
  }

  /**
   * Checks the venue again once a new connection is stored. Deleting a venue disconnects what its
   * venue had, but a connection whose provider calls were still under way then was not stored
   * yet; the deletion's second sweep catches it if it is stored by then, and this check catches
   * it if it is stored later. If venue-service cannot be reached now the connection is kept and a
   * warning logged: refusing a connect because of an outage elsewhere would be worse, and the
   * venue most likely still exists.
   */
  async function dropIfVenueGone(ctx: { tenantId: string; requestId: string; ip: string }, id: string, venueId: string): Promise<void> {
    const { tenantId } = ctx
    const venue = await deps.venues.getVenue(tenantId, venueId).catch((error: unknown) => {
      deps.logger?.warn({ venueId, err: { message: (error as Error).message } }, 'venue re-check failed; keeping the connection')
      return undefined
    })
    if (venue !== null) return
    const row = await db.withTenant(tenantId, (trx) => connections.findById(trx, id))
    if (row) await retire(row, { tenantId, actorType: 'service', actorId: 'integration-service', requestId: ctx.requestId, ip: ctx.ip })
    throw new VenueNotFoundError()
  }

  return {
    view: toConnectionView,
    /** The venue exists in the caller's tenant and the caller may manage it (OAuth uses this too). */
    assertVenueManageable: requireVenue,

    async list(ctx: RequestContext, query: ListConnections): Promise<{ data: ConnectionView[]; nextCursor: string | null }> {
      let after: ConnectionListFilter['after']
      if (query.cursor) {
        const cursor = readCursor(query.cursor, CursorSchema)
        after = { createdAt: cursor.c, id: cursor.i }
      }
      const onlyVenueIds = hasRole(ctx.principal, 'admin') ? null : ctx.principal.venueIds
      const { rows, nextCursor } = await page(
        query.limit,
        (take) =>
          db.withTenant(ctx.principal.tenantId, (trx) =>
            connections.list(trx, {
              ...(query.venueId ? { venueId: query.venueId } : {}),
              ...(query.provider ? { provider: query.provider } : {}),
              ...(query.status ? { status: query.status } : {}),
              onlyVenueIds,
              ...(after ? { after } : {}),
              limit: take,
            }),
          ),
        (last) => ({ c: last.created_at.toISOString(), i: last.id }),
      )
      return { data: rows.map(toConnectionView), nextCursor }
    },

    async get(ctx: RequestContext, id: string): Promise<ConnectionView> {
      return toConnectionView(await loadVisible(ctx, id, false))
    },

    async create(ctx: RequestContext, input: CreateConnection): Promise<ConnectionView> {
      const venueId = input.venueId.toLowerCase()
      checkKey(input.provider, input.credentials.apiKey)
      await requireVenue(ctx, venueId)
      const tenantId = ctx.principal.tenantId
      const existing = await db.withTenant(tenantId, (trx) => connections.findLive(trx, venueId, input.provider))
      if (existing) throw new AlreadyConnectedError(input.provider)

      const id = randomUUID()
      const providerCtx = contextFor(input.provider, toProviderCredentials({ apiKey: input.credentials.apiKey }, { accountId: null, provider: input.provider }))
      const account = await registry[input.provider].adapter.verifyCredentials(providerCtx).catch((error: unknown) => {
        throw connectFailure(input.provider, error)
      })
      const webhook = await registerWebhook(input.provider, id, providerCtx, input.webhookSecret)
      const secrets: SecretValues = { apiKey: input.credentials.apiKey, ...(webhook.secret ? { webhookSecret: webhook.secret } : {}) }
      let view: ConnectionView
      try {
        view = await db.withTenant(tenantId, async (trx) => {
          await connections.insert(trx, { id, tenantId, venueId, provider: input.provider, authType: 'api_key', createdBy: ctx.principal.userId, sealed: vault.seal(tenantId, id, secrets) })
          const row = await connections.update(trx, id, { status: 'active', statusReason: webhook.problem, accountId: account.accountId, accountName: account.name, webhookEndpointId: webhook.endpointId })
          await audit.record(trx, { ...auditActor(ctx), action: 'connection.created', entityType: 'connection', entityId: id, after: toConnectionView(row) })
          return toConnectionView(row)
        })
      } catch (error) {
        // The endpoint registered above must not outlive a connection that was never stored.
        await removeWebhookQuietly({ provider: input.provider, webhook_endpoint_id: webhook.endpointId }, providerCtx)
        if ((error as { code?: string }).code === '23505') throw new AlreadyConnectedError(input.provider)
        throw error
      }
      await dropIfVenueGone({ tenantId, requestId: ctx.requestId, ip: ctx.ip }, id, venueId)
      await connected(tenantId, id)
      return view
    },

    /**
     * Replaces the credentials (with an API key) or the webhook secret. A key replaces whatever the
     * connection held, OAuth tokens included: the connection becomes an API-key one and its grant
     * is revoked at the provider as a disconnect would. Providers prefer a stored access token
     * (Square) and the tokens would be refreshed on, so keeping them beside the key would leave
     * the key unused; refusing instead would make the venue disconnect, losing the connection's
     * history, schedules and records, only to connect again with the key.
     */
    async update(ctx: RequestContext, id: string, input: UpdateConnection): Promise<ConnectionView> {
      const current = await loadVisible(ctx, id, true)
      if (current.status === 'disconnected') throw new ConnectionDisconnectedError()
      const tenantId = ctx.principal.tenantId
      let replacement: { apiKey: string; account: { accountId: string; name: string | null }; ctx: ProviderContext; webhook: Awaited<ReturnType<typeof registerWebhook>> | null } | null = null
      if (input.credentials) {
        checkKey(current.provider, input.credentials.apiKey)
        const newCtx = contextFor(current.provider, toProviderCredentials({ apiKey: input.credentials.apiKey }, { accountId: null, provider: current.provider }))
        const account = await registry[current.provider].adapter.verifyCredentials(newCtx).catch((error: unknown) => {
          throw connectFailure(current.provider, error)
        })
        // The endpoint lives where the replaced credentials registered it: a key of another account,
        // or a key replacing OAuth tokens (whose grant is revoked below), moves it. The old one goes
        // once the new credentials are stored.
        const moves = account.accountId !== current.account_id || current.auth_type !== 'api_key'
        replacement = { apiKey: input.credentials.apiKey, account, ctx: newCtx, webhook: moves ? await registerWebhook(current.provider, id, newCtx, input.webhookSecret) : null }
      }
      let written: { row: ConnectionRow; before: ConnectionRow; previous: SecretValues }
      try {
        written = await db.withTenant(tenantId, async (trx) => {
          // Under the row lock, as it is now: a disconnect that finished while the provider was being
          // asked wins (the answer is what it would have been had it come first), and a token refresh
          // meanwhile is not undone.
          const before = await connections.findById(trx, id, { forUpdate: true })
          if (!before) throw new ConnectionNotFoundError()
          if (before.status === 'disconnected') throw new ConnectionDisconnectedError()
          const previous = vault.open(tenantId, id, before.secrets)
          let values: SecretValues = { ...previous }
          let changes: Parameters<ConnectionRepository['update']>[2] = {}
          if (replacement) {
            const { webhook } = replacement
            const webhookSecret = webhook ? webhook.secret : previous.webhookSecret
            values = { apiKey: replacement.apiKey, ...(webhookSecret ? { webhookSecret } : {}) }
            changes = {
              authType: 'api_key',
              tokenExpiresAt: null,
              status: 'active',
              statusReason: webhook ? webhook.problem : before.status_reason,
              accountId: replacement.account.accountId,
              accountName: replacement.account.name,
              ...(webhook ? { webhookEndpointId: webhook.endpointId } : {}),
              // OAuth's facts (Mailchimp's data centre) give way to what the key says.
              ...(before.auth_type !== 'api_key' ? { providerMeta: {} } : {}),
            }
          }
          if (input.webhookSecret) values.webhookSecret = input.webhookSecret
          const row = await connections.update(trx, id, { ...changes, sealed: vault.seal(tenantId, id, values) })
          await audit.record(trx, { ...auditActor(ctx), action: 'connection.updated', entityType: 'connection', entityId: id, before: toConnectionView(before), after: toConnectionView(row) })
          return { row, before, previous }
        })
      } catch (error) {
        // Nothing was stored: the endpoint registered for the new credentials must not stay behind.
        if (replacement?.webhook) await removeWebhookQuietly({ provider: current.provider, webhook_endpoint_id: replacement.webhook.endpointId }, replacement.ctx)
        throw error
      }
      if (replacement) {
        const { row, before, previous } = written
        const oldCtx = contextOfRow(before, previous)
        if (replacement.webhook && before.webhook_endpoint_id !== row.webhook_endpoint_id) await removeWebhookQuietly(before, oldCtx)
        await revokeGrantQuietly(before, previous)
      }
      return toConnectionView(written.row)
    },

    /** Disconnect: revoke tokens and the webhook at the provider where it allows, destroy secrets. */
    async disconnect(ctx: RequestContext, id: string): Promise<void> {
      const current = await loadVisible(ctx, id, true)
      if (current.status === 'disconnected') return
      await retire(current, auditActor(ctx))
    },

    /**
     * A venue is being deleted (venue-service asks, signed): every live connection it had is
     * disconnected as if its manager had done it. Returns the ids disconnected by this call, so a
     * repeated call returns none.
     */
    async disconnectVenue(caller: { service: string; requestId: string; ip: string }, tenantId: string, venueId: string): Promise<string[]> {
      const live = await db.withTenant(tenantId, (trx) => connections.listLiveForVenue(trx, venueId))
      const who = { tenantId, actorType: 'service' as const, actorId: caller.service, requestId: caller.requestId, ip: caller.ip }
      const disconnected: string[] = []
      for (const row of live) if (await retire(row, who)) disconnected.push(row.id)
      return disconnected
    },

    /** Verifies the stored credentials against the provider now. */
    async test(ctx: RequestContext, id: string): Promise<{ ok: boolean; status: ConnectionRow['status']; accountId: string | null; detail: string | null }> {
      const current = await loadVisible(ctx, id, true)
      if (current.status === 'disconnected') throw new ConnectionDisconnectedError()
      const tenantId = ctx.principal.tenantId
      // `status: null`: the provider could not be asked, so the status stays whatever it is.
      let outcome: { ok: boolean; status: ConnectionRow['status'] | null; accountId: string | null; detail: string | null }
      try {
        const { binding, ctx: providerCtx } = await deps.context.forSync(tenantId, id)
        const account = await binding.adapter.verifyCredentials(providerCtx)
        outcome = { ok: true, status: 'active', accountId: account.accountId, detail: null }
      } catch (error) {
        if (error instanceof ProviderAuthError) outcome = { ok: false, status: current.auth_type === 'oauth2' ? 'needs_reauth' : 'error', accountId: current.account_id, detail: 'The provider refused the stored credentials.' }
        else if (error instanceof ProviderError) outcome = { ok: false, status: null, accountId: current.account_id, detail: 'The provider is unavailable; try again later.' }
        else throw error
      }
      return db.withTenant(tenantId, async (trx) => {
        // Under the row lock: a disconnect that finished while the provider was being asked wins.
        const before = await connections.findById(trx, id, { forUpdate: true })
        if (!before) throw new ConnectionNotFoundError()
        if (before.status === 'disconnected') throw new ConnectionDisconnectedError()
        const row = await connections.update(trx, id, { status: outcome.status ?? before.status, statusReason: outcome.detail })
        await audit.record(trx, { ...auditActor(ctx), action: 'connection.tested', entityType: 'connection', entityId: id, before: { status: before.status }, after: { status: row.status, ok: outcome.ok } })
        return { ...outcome, status: row.status }
      })
    },

    /**
     * Stores the outcome of an OAuth authorization: a new connection, or fresh tokens for the
     * venue's live one, which becomes an OAuth connection whatever it was (its API key is
     * dropped). Its webhook endpoint stays when it was registered through OAuth in the same
     * account; otherwise (another account, or registered with the key being dropped) a new one is
     * registered and the old one removed once the tokens are stored.
     */
    async completeOAuth(input: { tenantId: string; venueId: string; userId: string; provider: ProviderName; tokens: OAuthTokens; requestId: string; ip: string }): Promise<ConnectionView> {
      const { tenantId, venueId, provider, tokens } = input
      const credentials: SecretValues = { accessToken: tokens.accessToken, ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}) }
      const accountHint = tokens.realmId ?? tokens.accountId ?? null
      const providerCtx = contextFor(provider, { ...toProviderCredentials(credentials, { accountId: accountHint, provider }), ...(tokens.dc ? { dc: tokens.dc } : {}) })
      const account = await registry[provider].adapter.verifyCredentials(providerCtx).catch((error: unknown) => {
        throw connectFailure(provider, error)
      })
      // QuickBooks calls are addressed by realm: that is the account id later calls need.
      const accountId = provider === 'quickbooks' ? (tokens.realmId ?? account.accountId) : account.accountId
      const audited = { tenantId, actorType: 'user' as const, actorId: input.userId, requestId: input.requestId, ip: input.ip }
      // A live connection disconnected while this was under way is not brought back: the tokens make
      // a new connection, as they would have had the disconnect come first. Twice at most.
      for (let attempt = 1; ; attempt++) {
        const existing = await db.withTenant(tenantId, (trx) => connections.findLive(trx, venueId, provider))
        const id = existing?.id ?? randomUUID()
        const keepsWebhook = existing !== null && existing.webhook_endpoint_id !== null && existing.auth_type === 'oauth2' && existing.account_id === accountId
        const webhook = keepsWebhook ? null : await registerWebhook(provider, id, providerCtx, undefined)
        let written: { row: ConnectionRow; before: ConnectionRow | null; previous: SecretValues } | null
        try {
          written = await db.withTenant(tenantId, async (trx) => {
            let before: ConnectionRow | null = null
            if (existing) {
              before = await connections.findById(trx, id, { forUpdate: true })
              if (!before || before.status === 'disconnected') return null
            } else {
              await connections.insert(trx, { id, tenantId, venueId, provider, authType: 'oauth2', createdBy: input.userId, sealed: vault.seal(tenantId, id, credentials) })
            }
            const previous = before ? vault.open(tenantId, id, before.secrets) : {}
            // A secret of the same account's endpoint still holds when no new one came with a registration.
            const webhookSecret = webhook?.secret ?? (before?.account_id === accountId ? previous.webhookSecret : undefined)
            const row = await connections.update(trx, id, {
              sealed: vault.seal(tenantId, id, { ...credentials, ...(webhookSecret ? { webhookSecret } : {}) }),
              authType: 'oauth2',
              status: 'active',
              statusReason: webhook ? webhook.problem : null,
              accountId,
              accountName: account.name,
              tokenExpiresAt: tokens.expiresAt ? new Date(tokens.expiresAt) : null,
              ...(webhook ? { webhookEndpointId: webhook.endpointId } : {}),
              providerMeta: tokens.dc ? { dc: tokens.dc } : {},
            })
            await audit.record(trx, { ...audited, action: 'connection.oauth_completed', entityType: 'connection', entityId: id, before: before ? toConnectionView(before) : undefined, after: toConnectionView(row) })
            return { row, before, previous }
          })
        } catch (error) {
          // Nothing was stored: the endpoint registered for these tokens must not stay behind.
          if (webhook) await removeWebhookQuietly({ provider, webhook_endpoint_id: webhook.endpointId }, providerCtx)
          if ((error as { code?: string }).code === '23505') throw new AlreadyConnectedError(provider)
          throw error
        }
        if (!written) {
          // Registered for the connection just disconnected (its id is in the URL): it goes.
          if (webhook) await removeWebhookQuietly({ provider, webhook_endpoint_id: webhook.endpointId }, providerCtx)
          if (attempt >= 2) throw new ConnectionDisconnectedError()
          continue
        }
        const { row, before, previous } = written
        if (before && webhook && before.webhook_endpoint_id !== row.webhook_endpoint_id) await removeWebhookQuietly(before, contextOfRow(before, previous))
        if (!before) await dropIfVenueGone({ tenantId, requestId: input.requestId, ip: input.ip }, id, venueId)
        await connected(tenantId, id)
        return toConnectionView(row)
      }
    },
  }
}

export type ConnectionService = ReturnType<typeof createConnectionService>
