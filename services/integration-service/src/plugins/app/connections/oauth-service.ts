// OAuth 2 connections. The state is single-use, expires in ten minutes, is bound to the tenant,
// venue and user who asked, and only its hash is stored; PKCE where the provider supports it.
// The callback is public (the user's browser returns from the provider) and ends in a redirect to
// the configured return URL carrying the outcome, never an error page with details; the one
// exception is a callback in a browser that did not start the flow (oauth-browser-binding.ts),
// refused with a 403 problem+json and nothing connected.
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { decryptSecret, encryptSecret, type KeyRing } from '@hub/crypto'
import { markReported, type SecurityEventReporter } from '@hub/contracts'
import type { Database, RequestContext } from '@hub/service-kit'
import type { ProviderName } from '../../../providers/canonical.ts'
import type { ProviderRegistry } from '../../../providers/registry.ts'
import { OAuthBrowserMismatchError, OAuthNotConfiguredError } from './connection-errors.ts'
import { bindingCookie, bindingCookieName, bindingMatches, clearedBindingCookie, newBrowserBinding, readCookie } from './oauth-browser-binding.ts'
import type { ConnectionService } from './connection-service.ts'
import type { OAuthStateRepository } from './oauth-state-repository.ts'

export const STATE_TTL_MS = 10 * 60_000

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex')

export function createOAuthService(deps: {
  db: Pick<Database, 'withTenant' | 'withSystemScope'>
  states: OAuthStateRepository
  registry: ProviderRegistry
  ring: KeyRing
  connections: Pick<ConnectionService, 'assertVenueManageable' | 'completeOAuth'>
  securityEvents: SecurityEventReporter
  publicUrl: string
  returnUrl: string
  logger?: { warn(obj: object, msg?: string): void }
  now?: () => number
}) {
  const now = deps.now ?? Date.now
  // Browsers drop Secure cookies on plain http, which only a development hub uses.
  const secureCookie = deps.publicUrl.startsWith('https:')
  const callbackUrl = (provider: ProviderName) => `${deps.publicUrl.replace(/\/$/, '')}/api/v1/integrations/oauth/${provider}/callback`
  const outcome = (params: Record<string, string>) => {
    const url = new URL(deps.returnUrl)
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value)
    return url.toString()
  }

  function binding(provider: ProviderName) {
    const bound = deps.registry[provider]
    const description = bound.adapter.auth.type === 'oauth2' ? bound.adapter.auth.oauth : bound.adapter.auth.oauth
    if (!bound.adapter.oauth || !bound.oauth || !description) throw new OAuthNotConfiguredError(provider)
    return { adapter: bound.adapter, client: bound.oauth, description, oauth: bound.adapter.oauth }
  }

  return {
    /** `setCookie` goes on the response: it binds the flow to the browser that asked. */
    async authorize(ctx: RequestContext, provider: ProviderName, venueId: string): Promise<{ authorizeUrl: string; state: string; expiresAt: string; setCookie: string }> {
      const { client, description, oauth } = binding(provider)
      await deps.connections.assertVenueManageable(ctx, venueId)
      const state = randomBytes(32).toString('base64url')
      const verifier = description.pkce ? randomBytes(32).toString('base64url') : null
      const id = randomUUID()
      const browser = newBrowserBinding()
      const expiresAt = new Date(now() + STATE_TTL_MS)
      const tenantId = ctx.principal.tenantId
      await deps.db.withTenant(tenantId, (trx) =>
        deps.states.insert(trx, {
          id,
          state_hash: sha256(state),
          tenant_id: tenantId,
          venue_id: venueId,
          user_id: ctx.principal.userId,
          provider,
          code_verifier: verifier ? encryptSecret(deps.ring, verifier, { tenantId, rowId: id, field: 'codeVerifier' }) : null,
          redirect_uri: callbackUrl(provider),
          expires_at: expiresAt,
          browser_binding_hash: browser.hash,
        }),
      )
      const authorizeUrl = oauth.authorizeUrl({
        authBaseUrl: client.authBaseUrl,
        clientId: client.clientId,
        redirectUri: callbackUrl(provider),
        state,
        ...(verifier ? { codeChallenge: createHash('sha256').update(verifier).digest('base64url') } : {}),
      })
      const setCookie = bindingCookie(bindingCookieName(state), browser.value, { secure: secureCookie, maxAgeSeconds: STATE_TTL_MS / 1000 })
      return { authorizeUrl, state, expiresAt: expiresAt.toISOString(), setCookie }
    },

    /**
     * Returns where to send the browser, and the Set-Cookie that clears the flow's binding cookie.
     * Throws OAuthBrowserMismatchError when the browser is not the one that started the flow.
     */
    async callback(
      provider: ProviderName,
      query: { code?: string | undefined; state?: string | undefined; error?: string | undefined; realmId?: string | undefined },
      request: { requestId: string; ip: string; cookieHeader?: string | undefined },
    ): Promise<{ location: string; clearCookie: string | null }> {
      const report = (code: string) =>
        deps.securityEvents.report({
          type: 'SUSPICIOUS_ACCESS',
          severity: 'medium',
          source: 'integration-service',
          code,
          actor: null,
          ip: request.ip,
          method: 'GET',
          path: `/api/v1/integrations/oauth/${provider}/callback`,
          requestId: request.requestId,
        })
      const cookieName = query.state ? bindingCookieName(query.state) : null
      const clearCookie = cookieName ? clearedBindingCookie(cookieName, { secure: secureCookie }) : null
      const refuse = (reason: string, suspicious: boolean) => {
        if (suspicious) report(`OAUTH_${reason.toUpperCase()}`)
        return { location: outcome({ status: 'error', provider, reason }), clearCookie }
      }
      if (!query.state || !cookieName) return refuse('missing_state', true)
      const stateHash = sha256(query.state)
      // The browser first, before the state is spent: a victim's browser carrying an attacker's
      // state has no cookie for it and connects nothing (the attacker's state stays unused).
      const pending = await deps.db.withSystemScope((trx) => deps.states.findPending(trx, stateHash, provider))
      if (pending && !bindingMatches(readCookie(request.cookieHeader, cookieName), pending.browser_binding_hash)) {
        report('OAUTH_BROWSER_MISMATCH')
        throw markReported(new OAuthBrowserMismatchError())
      }
      // Claim the state in one statement: a replay, even a concurrent one, finds it used.
      const claimed = await deps.db.withSystemScope((trx) => deps.states.claim(trx, stateHash, provider, new Date(now())))
      if (!claimed) return refuse('invalid_state', true)
      if (claimed.expires_at.getTime() < now()) return refuse('expired_state', false)
      if (query.error || !query.code) return { location: outcome({ status: 'error', provider, reason: query.error ? 'access_denied' : 'missing_code' }), clearCookie }

      const { client, oauth } = binding(provider)
      try {
        const verifier = claimed.code_verifier ? decryptSecret(deps.ring, claimed.code_verifier, { tenantId: claimed.tenant_id, rowId: claimed.id, field: 'codeVerifier' }) : undefined
        const tokens = await oauth.exchangeCode({
          authBaseUrl: client.authBaseUrl,
          clientId: client.clientId,
          clientSecret: client.clientSecret,
          code: query.code,
          redirectUri: claimed.redirect_uri,
          ...(verifier ? { codeVerifier: verifier } : {}),
          // QuickBooks returns the company on the redirect, not from the token endpoint.
          ...(query.realmId ? ({ realmId: query.realmId } as Record<string, string>) : {}),
        })
        if (query.realmId && !tokens.realmId) tokens.realmId = query.realmId
        const connection = await deps.connections.completeOAuth({ tenantId: claimed.tenant_id, venueId: claimed.venue_id, userId: claimed.user_id, provider, tokens, requestId: request.requestId, ip: request.ip })
        return { location: outcome({ status: 'success', provider, connectionId: connection.id, venueId: claimed.venue_id }), clearCookie }
      } catch (error) {
        deps.logger?.warn({ provider, err: { message: (error as Error).message, code: (error as { code?: string }).code } }, 'OAuth completion failed')
        return { location: outcome({ status: 'error', provider, reason: 'exchange_failed' }), clearCookie }
      }
    },
  }
}

export type OAuthService = ReturnType<typeof createOAuthService>
