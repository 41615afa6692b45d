// Mailchimp's OAuth 2 (login.mailchimp.com): authorization code only, no PKCE, no refresh token,
// and access tokens that never expire (`expires_in: 0`). The data centre an account lives in is
// learned afterwards from /oauth2/metadata, called with `Authorization: OAuth <token>`.
import type { FastifyInstance } from 'fastify'
import { ACCESS_TOKEN_PATTERN } from './mailchimp-store.ts'
import type { MailchimpStore } from './mailchimp-store.ts'

export interface OAuthRouteOptions {
  store: MailchimpStore
  /** The data centre metadata reports. */
  dc: string
}

type Fields = Record<string, string | undefined>

export async function mailchimpOAuthRoutes(app: FastifyInstance, options: OAuthRouteOptions): Promise<void> {
  const { store } = options

  // The real page asks the user to log in and approve; the simulator approves at once. `login`
  // (simulator-only) picks which user approves, so different users get different accounts.
  app.get('/oauth2/authorize', async (request, reply) => {
    const query = request.query as Fields
    if (query.response_type !== 'code' || !query.client_id || !query.redirect_uri || !URL.canParse(query.redirect_uri)) {
      return reply.code(400).send({ error: 'invalid_request', error_description: 'response_type=code, client_id and a valid redirect_uri are required' })
    }
    const code = store.issueCode(query.client_id, query.redirect_uri, query.login ?? 'venue-owner')
    const target = new URL(query.redirect_uri)
    target.searchParams.set('code', code)
    if (query.state !== undefined) target.searchParams.set('state', query.state)
    return reply.redirect(target.toString(), 302)
  })

  app.post('/oauth2/token', async (request, reply) => {
    const body = (request.body ?? {}) as Fields
    if (body.grant_type !== 'authorization_code') {
      return reply.code(400).send({ error: 'unsupported_grant_type', error_description: 'Only authorization_code is supported' })
    }
    if (!body.client_id || !body.client_secret) return reply.code(401).send({ error: 'invalid_client', error_description: 'Invalid client credentials' })
    const grant = body.code ? store.codes.get(body.code) : undefined
    if (!grant || grant.clientId !== body.client_id || grant.redirectUri !== body.redirect_uri || grant.expiresAtMs <= store.clock.now()) {
      return reply.code(400).send({ error: 'invalid_grant', error_description: 'Invalid authorization code' })
    }
    store.codes.delete(grant.code)
    const { token, ttl } = store.issueToken(grant.accountId)
    return reply.code(200).send({ access_token: token, expires_in: ttl ?? 0, scope: null })
  })

  app.get('/oauth2/metadata', async (request, reply) => {
    const header = request.headers.authorization ?? ''
    const match = /^OAuth\s+(\S+)$/i.exec(header)
    const credential = match?.[1] ?? ''
    const token = store.tokens.get(credential)
    const expired = token?.expiresAtMs != null && token.expiresAtMs <= store.clock.now()
    if (!ACCESS_TOKEN_PATTERN.test(credential) || store.revoked.has(credential) || expired) {
      return reply.code(401).send({ error: 'invalid_token' })
    }
    const account = store.accountForCredential(credential)
    const origin = `${request.protocol}://${request.host}`
    return reply.code(200).send({
      dc: options.dc,
      role: 'owner',
      accountname: account.name,
      user_id: Number(account.loginId),
      login: { email: account.email, avatar: null, login_id: Number(account.loginId), login_name: account.username, login_email: account.email },
      login_url: `${origin}/oauth2`,
      // The real value is https://<dc>.api.mailchimp.com; the simulator serves the API itself.
      api_endpoint: origin,
    })
  })
}
