// Production sign-in: authorization code with PKCE against the platform's OpenID Connect provider,
// through oauth4webapi (a public client: no secret in the browser). Only the PKCE verifier and the
// state wait in sessionStorage across the redirect; the tokens stay in memory (session.ts).
// Loaded on demand, so development sign-in never downloads it.
import * as oauth from 'oauth4webapi'
import { sessionFromToken, setSession } from './session.ts'

export interface OidcSettings {
  issuer: string
  clientId: string
  audience: string
  scopes: string
  claimsNamespace: string
}

const PENDING_KEY = 'console.oidc.pending'
const redirectUri = (): string => `${location.origin}/auth/callback`

// Plain HTTP only for a provider on this machine (a development provider, as loopback redirect
// URIs are allowed for native apps); anything else must be HTTPS, which oauth4webapi enforces.
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])
function insecure(settings: OidcSettings): { [oauth.allowInsecureRequests]?: boolean } {
  const issuer = new URL(settings.issuer)
  return issuer.protocol === 'http:' && LOOPBACK.has(issuer.hostname) ? { [oauth.allowInsecureRequests]: true } : {}
}

async function discover(settings: OidcSettings): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(settings.issuer)
  return oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure(settings) }))
}

export async function startSignIn(settings: OidcSettings): Promise<void> {
  const as = await discover(settings)
  if (!as.authorization_endpoint) throw new Error('The sign-in provider publishes no authorization endpoint.')
  const verifier = oauth.generateRandomCodeVerifier()
  const state = oauth.generateRandomState()
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, returnTo: location.pathname === '/sign-in' ? '/venues' : location.pathname }))
  const url = new URL(as.authorization_endpoint)
  url.searchParams.set('client_id', settings.clientId)
  url.searchParams.set('redirect_uri', redirectUri())
  url.searchParams.set('response_type', 'code')
  url.searchParams.set('scope', settings.scopes)
  url.searchParams.set('state', state)
  url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier))
  url.searchParams.set('code_challenge_method', 'S256')
  // Providers that issue API access tokens per audience (Auth0, Keycloak with audience mappers) read this.
  url.searchParams.set('audience', settings.audience)
  location.assign(url.toString())
}

/** On /auth/callback: exchanges the code, keeps the access token in memory, returns where to go. */
export async function completeSignIn(settings: OidcSettings): Promise<string> {
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? 'null') as { verifier: string; state: string; returnTo: string } | null
  sessionStorage.removeItem(PENDING_KEY)
  if (!pending) throw new Error('This sign-in was not started here, or was already used. Please sign in again.')
  const as = await discover(settings)
  const client: oauth.Client = { client_id: settings.clientId }
  const params = oauth.validateAuthResponse(as, client, new URL(location.href), pending.state)
  const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, redirectUri(), pending.verifier, insecure(settings))
  const result = await oauth.processAuthorizationCodeResponse(as, client, response)
  const claims = oauth.getValidatedIdTokenClaims(result)
  setSession(sessionFromToken(result.access_token, typeof claims?.email === 'string' ? claims.email : typeof claims?.name === 'string' ? claims.name : undefined, settings.claimsNamespace))
  return pending.returnTo
}
