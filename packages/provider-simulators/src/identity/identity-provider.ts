// A development OpenID Connect provider standing in for the platform's identity provider: the
// conformant `oidc-provider` library (authorization code with PKCE, discovery, JWKS, JWT access
// tokens for the hub's audience via resource indicators, RP-initiated sign-out) with plain sign-in
// and sign-out pages for the users registered with it. Each user's tenant, roles and venues go into
// the access token as the hub's claims (optionally namespaced, as Auth0-style providers require of
// custom claims).
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider'

export interface IdentityUser {
  /** What the person types to sign in. */
  email: string
  password: string
  /** The stable subject; defaults to `user-<email>`. */
  sub?: string
  name?: string
  tenantId: string
  roles: Array<'admin' | 'manager' | 'viewer'>
  venueIds?: string[]
}

export interface IdentityProviderOptions {
  port?: number
  host?: string
  /**
   * Public clients (no secret; PKCE required), each with its exact redirect URIs and the exact URIs
   * its sign-out may send the browser back to (`post_logout_redirect_uri`).
   */
  clients: Array<{ clientId: string; redirectUris: string[]; postLogoutRedirectUris?: string[] }>
  /** The `aud` of the access tokens (the hub's JWT_AUDIENCE). */
  audience: string
  /** The resource indicator standing for the hub's API; the default resource of every request. */
  resource?: string
  /** Signing algorithm of access tokens (ID tokens use RS256). */
  accessTokenAlg?: 'ES256' | 'RS256'
  /** Prefix of the hub's claims in access tokens; plain `tenant_id`, `roles`, `venue_ids` when unset. */
  claimsNamespace?: string
  accessTokenTtlSeconds?: number
  users?: IdentityUser[]
}

export interface IdentityProviderSimulator {
  issuer: string
  jwksUrl: string
  addUser(user: IdentityUser): void
  close(): Promise<void>
}

function signingKey(kind: 'ec' | 'rsa', alg: string) {
  const { privateKey } = kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 })
  return { ...privateKey.export({ format: 'jwk' }), kid: `${alg.toLowerCase()}-${randomBytes(4).toString('hex')}`, alg, use: 'sig' }
}

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

function signInPage(uid: string, error?: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Sign in · development identity provider</title></head>
<body><main><h1>Development identity provider</h1>
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<p><label>Email <input name="email" type="email" autocomplete="username" required autofocus></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Sign in</button></p>
</form></main></body></html>`
}

// RP-initiated logout: oidc-provider's form (carrying its CSRF token) and the person's confirmation.
function signOutPage(form: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Sign out · development identity provider</title></head>
<body><main><h1>Sign out of the development identity provider?</h1>
${form}
<p><button type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button></p>
</main></body></html>`
}

async function formBody(request: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request) {
    size += (chunk as Buffer).length
    if (size > 16_384) throw new Error('form too large')
    chunks.push(chunk as Buffer)
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}

export async function startIdentityProvider(options: IdentityProviderOptions): Promise<IdentityProviderSimulator> {
  const users = new Map<string, IdentityUser>()
  const bySub = new Map<string, IdentityUser>()
  const subOf = (user: IdentityUser) => user.sub ?? `user-${user.email}`
  const addUser = (user: IdentityUser) => {
    users.set(user.email.toLowerCase(), user)
    bySub.set(subOf(user), user)
  }
  for (const user of options.users ?? []) addUser(user)
  const resource = options.resource ?? 'urn:venue-hub:api'
  const ns = options.claimsNamespace ?? ''

  // The issuer names the port, so listen first and hand requests to the provider once it exists.
  const routes: { handle?: (request: IncomingMessage, response: ServerResponse) => void } = {}
  const server = createServer((request, response) => {
    if (routes.handle) routes.handle(request, response)
    else response.writeHead(503).end()
  })
  server.listen(options.port ?? 0, options.host ?? '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const issuer = `http://${options.host ?? '127.0.0.1'}:${port}`

  const configuration: Configuration = {
    clients: options.clients.map((client) => ({
      client_id: client.clientId,
      redirect_uris: client.redirectUris,
      post_logout_redirect_uris: client.postLogoutRedirectUris ?? [],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
    })),
    jwks: { keys: [signingKey('rsa', 'RS256'), signingKey('ec', 'ES256')] as never },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    pkce: { required: () => true },
    claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
    scopes: ['openid', 'profile', 'email'],
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => {
          ctx.type = 'html'
          ctx.body = signOutPage(form)
        },
        postLogoutSuccessSource: (ctx) => {
          ctx.type = 'html'
          ctx.body = '<!doctype html><html lang="en"><head><title>Signed out</title></head><body><main><h1>Signed out</h1><p>You are signed out of the development identity provider.</p></main></body></html>'
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator !== resource) throw new Error(`unknown resource ${indicator}`)
          return { scope: 'api', audience: options.audience, accessTokenTTL: options.accessTokenTtlSeconds ?? 3600, accessTokenFormat: 'jwt', jwt: { sign: { alg: options.accessTokenAlg ?? 'ES256' } } }
        },
      },
    },
    findAccount: (_ctx, sub) => {
      const user = bySub.get(sub)
      if (!user) return undefined
      return { accountId: sub, claims: () => ({ sub, email: user.email, name: user.name ?? user.email }) }
    },
    // The hub's claims ride in the access token for its audience only.
    extraTokenClaims: (_ctx, token) => {
      if (token.kind !== 'AccessToken' || !token.accountId) return undefined
      const user = bySub.get(token.accountId)
      if (!user) return undefined
      return { [`${ns}tenant_id`]: user.tenantId, [`${ns}roles`]: user.roles, ...(user.venueIds ? { [`${ns}venue_ids`]: user.venueIds } : {}), email: user.email }
    },
    clientBasedCORS: (_ctx, origin, client) => client.redirectUris?.some((uri) => new URL(uri).origin === origin) ?? false,
    renderError: (ctx: KoaContextWithOIDC, out) => {
      ctx.type = 'html'
      ctx.body = `<!doctype html><html lang="en"><head><title>Sign-in error</title></head><body><h1>Sign-in error</h1><p>${escapeHtml(String(out.error))}: ${escapeHtml(String(out.error_description ?? ''))}</p></body></html>`
    },
  }
  const provider = new Provider(issuer, configuration)
  const callback = provider.callback()

  async function interaction(request: IncomingMessage, response: ServerResponse, uid: string, submitted: boolean): Promise<void> {
    const details = await provider.interactionDetails(request, response)
    if (details.uid !== uid) throw new Error('interaction mismatch')
    const html = (status: number, body: string) => response.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(body)
    if (details.prompt.name === 'consent') {
      // A first-party client: consent is implied, so the grant covers what the request asked for.
      const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: details.session?.accountId, clientId: details.params.client_id as string })
      if (!grant) throw new Error('the grant is gone')
      const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> }
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '))
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims)
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '))
      grant.addResourceScope(resource, 'api')
      const grantId = await grant.save()
      return provider.interactionFinished(request, response, { consent: { grantId } }, { mergeWithLastSubmission: true })
    }
    if (!submitted) return void html(200, signInPage(uid))
    const form = await formBody(request)
    const user = users.get(String(form.get('email') ?? '').toLowerCase())
    if (!user || user.password !== form.get('password')) return void html(401, signInPage(uid, 'Unknown email or wrong password.'))
    await provider.interactionFinished(request, response, { login: { accountId: subOf(user) } }, { mergeWithLastSubmission: false })
  }

  routes.handle = (request, response) => {
    const path = new URL(request.url ?? '/', issuer).pathname
    const match = /^\/interaction\/([\w-]+)(\/login)?$/.exec(path)
    if (!match) return void callback(request, response)
    const submitted = match[2] === '/login' && request.method === 'POST'
    interaction(request, response, match[1] as string, submitted).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end(`Sign-in failed: ${error instanceof Error ? error.message : String(error)}`)
    })
  }

  return {
    issuer,
    jwksUrl: `${issuer}/jwks`,
    addUser,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
