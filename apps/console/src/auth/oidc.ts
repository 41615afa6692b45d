// Production sign-in: authorization code with PKCE against the platform's OpenID Connect provider,
// through oauth4webapi (a public client: no secret in the browser). Only the PKCE verifier, the
// state and the page to return to wait in sessionStorage across the redirect; the tokens stay in
// memory (session.ts). Sign-out ends the provider's session too. Loaded on demand, so development
// sign-in never downloads it.
import * as oauth from 'oauth4webapi'
import { safeReturnPath } from '../router.ts'
import { sessionFromToken, setSession } from './session.ts'

export interface OidcSettings {
  issuer: string
  clientId: string
  audience: string
  scopes: string
  claimsNamespace: string
}

const PENDING_KEY = 'console.oidc.pending'
// Set at sign-out until the next sign-in completes (a flag, nothing of the session): that sign-in
// asks the provider for a password even if its own session outlived ours. localStorage, so neither
// a reload nor a new tab on a shared terminal forgets it.
const SIGNED_OUT_KEY = 'console.oidc.signed-out'
const redirectUri = (): string => `${location.origin}/auth/callback`
/** Where the provider sends the browser after its sign-out; registered with the provider as such. */
const postLogoutRedirectUri = (): string => `${location.origin}/sign-in`

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

/** Sends the browser to the provider's sign-in; `returnTo` is the console page to come back to. */
export async function startSignIn(settings: OidcSettings, returnTo: string): Promise<void> {
  const as = await discover(settings)
  if (!as.authorization_endpoint) throw new Error('The sign-in provider publishes no authorization endpoint.')
  const verifier = oauth.generateRandomCodeVerifier()
  const state = oauth.generateRandomState()
  // The page's memory does not survive the redirect: the page to return to waits here with the verifier.
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, returnTo: safeReturnPath(returnTo) ?? '/venues' }))
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
  if (localStorage.getItem(SIGNED_OUT_KEY) !== null) url.searchParams.set('prompt', 'login')
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
  const session = sessionFromToken(result.access_token, typeof claims?.email === 'string' ? claims.email : typeof claims?.name === 'string' ? claims.name : undefined, settings.claimsNamespace)
  setSession(result.id_token ? { ...session, idToken: result.id_token } : session)
  localStorage.removeItem(SIGNED_OUT_KEY)
  return safeReturnPath(pending.returnTo) ?? '/venues'
}

/**
 * After the session here has ended: ends the provider's session too, or the next "Sign in" on this
 * terminal would come straight back as the same person without a password. Goes to the provider's
 * end_session_endpoint (RP-initiated logout) with the ID token as the hint, which sends the browser
 * back to the sign-in page; a provider without one is asked for a password at the next sign-in
 * (prompt=login), as it is anyway should the person choose to stay signed in at the provider.
 */
export async function signOutAtProvider(settings: OidcSettings, idToken: string | null): Promise<void> {
  localStorage.setItem(SIGNED_OUT_KEY, '1')
  const as = await discover(settings)
  if (!as.end_session_endpoint) return
  const url = new URL(as.end_session_endpoint)
  url.searchParams.set('client_id', settings.clientId)
  if (idToken) url.searchParams.set('id_token_hint', idToken)
  url.searchParams.set('post_logout_redirect_uri', postLogoutRedirectUri())
  location.assign(url.toString())
}
