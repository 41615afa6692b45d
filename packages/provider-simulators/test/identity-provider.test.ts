// The development identity provider end to end over HTTP, as a browser and a public client would
// drive it: discovery, authorization code with PKCE, the sign-in form, the token exchange, and an
// access token for the hub's audience carrying the user's tenant, roles and venues.
import assert from 'node:assert/strict'
import { createHash, createPublicKey, randomBytes, randomUUID, verify } from 'node:crypto'
import { test } from 'node:test'
import { startIdentityProvider } from '../src/index.ts'

const REDIRECT = 'http://127.0.0.1:9/auth/callback'

class Browser {
  cookies = new Map<string, string>()
  async go(url: string, init: RequestInit = {}): Promise<Response> {
    const response = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } })
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';')
      const [name, ...value] = (pair ?? '').split('=')
      this.cookies.set(name as string, value.join('='))
    }
    return response
  }
}

test('a user signs in with authorization code and PKCE and gets an access token for the hub with its tenant, roles and venues', async (t) => {
  const tenantId = randomUUID()
  const venueId = randomUUID()
  const idp = await startIdentityProvider({ clients: [{ clientId: 'console', redirectUris: [REDIRECT] }], audience: 'venue-hub', claimsNamespace: 'https://hub.example/' })
  t.after(() => idp.close())
  idp.addUser({ email: 'manager@example.org', password: 'pw-1', tenantId, roles: ['manager'], venueIds: [venueId] })

  const discovery = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<string, string>
  assert.equal(discovery.issuer, idp.issuer)
  assert.equal(discovery.jwks_uri, idp.jwksUrl)

  const verifier = randomBytes(32).toString('base64url')
  const challenge = createHash('sha256').update(verifier).digest('base64url')
  const authorize = new URL(discovery.authorization_endpoint as string)
  for (const [k, v] of Object.entries({ client_id: 'console', redirect_uri: REDIRECT, response_type: 'code', scope: 'openid profile', state: 'st-1', code_challenge: challenge, code_challenge_method: 'S256' }))
    authorize.searchParams.set(k, v)
  const browser = new Browser()
  let response = await browser.go(authorize.toString())
  assert.equal(response.status, 303)
  const interaction = new URL(response.headers.get('location') as string, idp.issuer).toString()
  response = await browser.go(interaction)
  assert.match(await response.text(), /name="password"/)

  const wrong = await browser.go(`${interaction}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'email=manager%40example.org&password=nope' })
  assert.equal(wrong.status, 401)
  response = await browser.go(`${interaction}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'email=manager%40example.org&password=pw-1' })
  // Back through the authorization endpoint to the client's redirect URI with a code.
  for (let hops = 0; hops < 5 && !(response.headers.get('location') ?? '').startsWith(REDIRECT); hops++) {
    response = await browser.go(new URL(response.headers.get('location') as string, idp.issuer).toString())
  }
  assert.ok(response.headers.get('location'), `${response.status} ${await response.text()}`)
  const callback = new URL(response.headers.get('location') as string)
  assert.equal(callback.searchParams.get('state'), 'st-1')
  const code = callback.searchParams.get('code') as string
  assert.ok(code, callback.toString())

  const exchange = (body: Record<string, string>) =>
    fetch(discovery.token_endpoint as string, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: 'console', redirect_uri: REDIRECT, code, ...body }),
    })
  assert.equal((await exchange({ code_verifier: randomBytes(32).toString('base64url') })).status, 400, 'a wrong PKCE verifier is refused')
  const tokens = (await (await exchange({ code_verifier: verifier })).json()) as Record<string, string>
  assert.ok(tokens.access_token && tokens.id_token, JSON.stringify(tokens))

  const { keys } = (await (await fetch(idp.jwksUrl)).json()) as { keys: Array<Record<string, string>> }
  const header = JSON.parse(Buffer.from((tokens.access_token as string).split('.')[0] as string, 'base64url').toString()) as Record<string, string>
  assert.equal(header.alg, 'ES256')
  const jwk = keys.find((key) => key.kid === header.kid)
  assert.ok(jwk, 'the access token is signed by a published key')
  const [encodedHeader, encodedPayload, signature] = (tokens.access_token as string).split('.') as [string, string, string]
  assert.ok(verify('sha256', Buffer.from(`${encodedHeader}.${encodedPayload}`), { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url')), 'the signature checks out')
  const claims = JSON.parse(Buffer.from(encodedPayload, 'base64url').toString()) as Record<string, unknown>
  assert.equal(claims.iss, idp.issuer)
  assert.equal(claims.aud, 'venue-hub')
  assert.equal(claims['https://hub.example/tenant_id'], tenantId)
  assert.deepEqual(claims['https://hub.example/roles'], ['manager'])
  assert.deepEqual(claims['https://hub.example/venue_ids'], [venueId])
  assert.equal(claims.sub, 'user-manager@example.org')
})

test("RP-initiated sign-out ends the provider's session and returns to the client's registered URI, so the next sign-in asks for the password", async (t) => {
  const signedOut = 'http://127.0.0.1:9/sign-in'
  const idp = await startIdentityProvider({ clients: [{ clientId: 'console', redirectUris: [REDIRECT], postLogoutRedirectUris: [signedOut] }], audience: 'venue-hub' })
  t.after(() => idp.close())
  idp.addUser({ email: 'viewer@example.org', password: 'pw-2', tenantId: randomUUID(), roles: ['viewer'] })
  const discovery = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<string, string>
  assert.ok(discovery.end_session_endpoint, 'discovery names the end_session_endpoint')

  const browser = new Browser()
  const verifier = randomBytes(32).toString('base64url')
  const authorize = new URL(discovery.authorization_endpoint as string)
  for (const [k, v] of Object.entries({
    client_id: 'console',
    redirect_uri: REDIRECT,
    response_type: 'code',
    scope: 'openid profile',
    state: 'st-2',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }))
    authorize.searchParams.set(k, v)
  /** Follows the provider's redirects; returns where it stopped (the client, or a page to show). */
  const follow = async (response: Response): Promise<{ response: Response; url: string }> => {
    let url = ''
    for (let hops = 0; hops < 6 && response.headers.get('location'); hops++) {
      url = new URL(response.headers.get('location') as string, idp.issuer).toString()
      if (!url.startsWith(idp.issuer)) break
      response = await browser.go(url)
    }
    return { response, url }
  }
  let { url } = await follow(await browser.go(authorize.toString()))
  assert.match(url, /\/interaction\//, 'the first sign-in asks for the password')
  ;({ url } = await follow(await browser.go(`${url}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'email=viewer%40example.org&password=pw-2' })))
  const code = new URL(url).searchParams.get('code') as string
  assert.ok(code, url)
  const tokens = (await (
    await fetch(discovery.token_endpoint as string, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: 'console', redirect_uri: REDIRECT, code, code_verifier: verifier }),
    })
  ).json()) as Record<string, string>
  ;({ url } = await follow(await browser.go(authorize.toString())))
  assert.ok(url.startsWith(REDIRECT), `while the provider's session lasts, no password is asked: ${url}`)

  const endSession = (redirect: string) => {
    const end = new URL(discovery.end_session_endpoint as string)
    for (const [k, v] of Object.entries({ client_id: 'console', id_token_hint: tokens.id_token as string, post_logout_redirect_uri: redirect })) end.searchParams.set(k, v)
    return browser.go(end.toString())
  }
  assert.equal((await endSession('https://elsewhere.example/')).status, 400, 'an unregistered post-logout URI is refused')
  const confirm = await endSession(signedOut)
  assert.equal(confirm.status, 200)
  const page = await confirm.text()
  assert.match(page, /Yes, sign me out/)
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)?.[1] as string
  const done = await browser.go(`${idp.issuer}/session/end/confirm`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ xsrf, logout: 'yes' }).toString() })
  assert.equal(done.headers.get('location'), signedOut, 'back to the client once signed out')
  ;({ url } = await follow(await browser.go(authorize.toString())))
  assert.match(url, /\/interaction\//, 'after the sign-out the password is asked again')
})
