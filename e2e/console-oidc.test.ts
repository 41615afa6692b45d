// The console in OpenID Connect mode, in real Chromium, against the whole stack and the development
// identity provider (oidc-provider): the person signs in at the provider (authorization code with
// PKCE), comes back signed in and the API accepts the provider's ES256 access token, its namespaced
// claims mapped to tenant, role and venues; no token is left in localStorage, sessionStorage or a
// cookie; the development sign-in is not offered; sign-out ends the session at the provider too, so
// the next person at a shared terminal must type a password; a deep link opened while signed out is
// where the console lands after the provider's sign-in. The stack keeps its HS256 development
// secret, and the test's own API calls prove those tokens still work beside the JWKS.
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe } from 'node:test'
import type { BrowserContext, Page } from 'playwright-core'
import { startIdentityProvider, type IdentityProviderSimulator } from '@hub/provider-simulators'
import { scenario, startStack, type E2EStack } from './support/stack.ts'
import { SCREENSHOTS, buildConsole, launchBrowser, requireChromium, seriousA11yViolations } from './support/browser.ts'

const CLIENT_ID = 'venue-hub-console'
const NAMESPACE = 'https://venue-hub.example/'
const PASSWORD = 'correct horse battery staple'

requireChromium()
buildConsole()
let idp: IdentityProviderSimulator | undefined
const stack: E2EStack = await startStack({
  envFor: async (ports) => {
    const gateway = `http://127.0.0.1:${ports.gateway}`
    idp = await startIdentityProvider({ clients: [{ clientId: CLIENT_ID, redirectUris: [`${gateway}/auth/callback`], postLogoutRedirectUris: [`${gateway}/sign-in`] }], audience: 'venue-hub', claimsNamespace: NAMESPACE })
    return { OIDC_ISSUER: idp.issuer, OIDC_CLIENT_ID: CLIENT_ID, JWT_JWKS_URL: idp.jwksUrl, JWT_JWKS_ISSUER: idp.issuer, JWT_CLAIMS_NAMESPACE: NAMESPACE }
  },
})
const provider = idp as unknown as IdentityProviderSimulator
let context: BrowserContext
let closeBrowser: () => Promise<void>

before(async () => {
  ;({ context, close: closeBrowser } = await launchBrowser())
  mkdirSync(SCREENSHOTS, { recursive: true })
})
after(async () => {
  await closeBrowser?.()
  await provider.close()
})

/** At the provider's sign-in page (which proves it asked for a password), signs in as `email`. */
async function signInAtProvider(page: Page, email: string): Promise<void> {
  await page.waitForURL(`${provider.issuer}/interaction/**`)
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
}

/** Web storage as the page sees it: nothing of a session may be left there. */
const webStorage = async (page: Page): Promise<{ local: Record<string, string>; session: Record<string, string> }> =>
  JSON.parse(await page.evaluate<string>('JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage } })')) as { local: Record<string, string>; session: Record<string, string> }

const tokenHeader = (authorization: string): Record<string, unknown> => JSON.parse(Buffer.from(authorization.replace(/^Bearer /, '').split('.')[0] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>

describe('the console signed in through OpenID Connect', () => {
  scenario('a manager signs in at the provider with PKCE, the API accepts its token, no token is stored, and sign-out ends the session at the provider', async () => {
    // HS256 development tokens keep working beside the JWKS: the admin sets the tenant up with one.
    const mine = await stack.api('POST', '/api/v1/venues', { body: { name: 'OIDC Hall', timezone: 'Europe/London', currency: 'GBP' } })
    assert.equal(mine.status, 201, JSON.stringify(mine.body))
    const other = await stack.api('POST', '/api/v1/venues', { body: { name: 'Not Yours Arena', timezone: 'Europe/London', currency: 'GBP' } })
    assert.equal(other.status, 201)
    provider.addUser({ email: 'manager@oidc-hall.example', password: PASSWORD, name: 'Morgan Manager', tenantId: stack.tenantId, roles: ['manager'], venueIds: [mine.body.id as string] })

    const page = await context.newPage()
    const apiAuthorizations: string[] = []
    page.on('request', (request) => {
      const authorization = request.headers().authorization
      if (request.url().startsWith(`${stack.gateway}/api/v1/`) && authorization) apiAuthorizations.push(authorization)
    })
    await page.goto(`${stack.gateway}/`)
    await page.waitForURL('**/sign-in')
    const signInButton = page.getByRole('button', { name: 'Sign in with your organisation' })
    await signInButton.waitFor()
    assert.equal(await page.getByRole('heading', { name: 'Development sign-in' }).count(), 0, 'no development sign-in in OIDC mode')
    assert.equal(await page.getByRole('button', { name: 'Demo admin' }).count(), 0)
    const violations = await seriousA11yViolations(page)
    assert.deepEqual(
      violations.map((v) => v.id),
      [],
      'axe on the OIDC sign-in page',
    )
    await page.screenshot({ path: join(SCREENSHOTS, 'sign-in-oidc.png'), scale: 'css' })

    await signInButton.click()
    await page.waitForURL(`${provider.issuer}/interaction/**`)
    await page.getByLabel('Email').fill('manager@oidc-hall.example')
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByRole('button', { name: 'Sign in' }).click()

    await page.waitForURL(`${stack.gateway}/venues`)
    await page.getByRole('link', { name: 'OIDC Hall' }).waitFor()
    assert.equal(await page.getByRole('link', { name: 'Not Yours Arena' }).count(), 0, 'a manager sees only its venues')
    assert.equal(await page.getByTestId('signed-in-as').innerText(), 'Morgan Manager', 'named from the ID token')
    assert.match(await page.locator('header.top').innerText(), /\(manager\)/)

    // The API calls carried the provider's ES256 access token, and the services accepted it.
    assert.ok(apiAuthorizations.length > 0, 'the console called the API')
    const header = tokenHeader(apiAuthorizations[0] as string)
    assert.equal(header.alg, 'ES256')
    const token = (apiAuthorizations[0] as string).replace(/^Bearer /, '')
    const venues = await stack.api('GET', '/api/v1/venues', { token })
    assert.equal(venues.status, 200)
    assert.deepEqual(
      (venues.body.data as Array<{ name: string }>).map((venue) => venue.name),
      ['OIDC Hall'],
    )

    // Nothing of the token is kept where a script or the next visitor could read it.
    const stored = await page.evaluate<string>('JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage } })')
    assert.ok(!stored.includes(token) && !stored.includes(token.split('.')[1] as string), `no token in web storage: ${stored}`)
    assert.deepEqual(JSON.parse(stored), { local: {}, session: {} }, 'the PKCE verifier and state are gone after the callback')
    const cookies = await context.cookies(stack.gateway)
    assert.ok(
      cookies.every((cookie) => !cookie.value.includes(token.split('.')[1] as string)),
      'no token in a cookie',
    )

    // Sign-out ends the session at the provider as well (its end_session_endpoint, named by the ID
    // token), then comes back to the console's sign-in page.
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL(`${provider.issuer}/session/end**`)
    const endSession = new URL(page.url()).searchParams
    assert.ok(endSession.get('id_token_hint'), 'the session to end is named by its ID token')
    assert.equal(endSession.get('post_logout_redirect_uri'), `${stack.gateway}/sign-in`)
    await page.getByRole('button', { name: 'Yes, sign me out' }).click()
    await page.waitForURL(`${stack.gateway}/sign-in`)
    await page.getByRole('button', { name: 'Sign in with your organisation' }).waitFor()
    assert.equal(await page.getByTestId('signed-in-as').count(), 0)
    await page.goto(`${stack.gateway}/venues`)
    await page.waitForURL('**/sign-in')

    // The next person at this terminal is asked for a password, and is signed in as themself.
    provider.addUser({ email: 'viewer@oidc-hall.example', password: PASSWORD, name: 'Vera Viewer', tenantId: stack.tenantId, roles: ['viewer'] })
    await page.getByRole('button', { name: 'Sign in with your organisation' }).click()
    await signInAtProvider(page, 'viewer@oidc-hall.example')
    await page.waitForURL(`${stack.gateway}/venues`)
    assert.equal(await page.getByTestId('signed-in-as').innerText(), 'Vera Viewer')
    assert.deepEqual(await webStorage(page), { local: {}, session: {} })
    await page.close()
  })

  scenario('a deep link opened while signed out is where the console lands after signing in at the provider', async () => {
    await context.clearCookies()
    const hall = await stack.api('POST', '/api/v1/venues', { body: { name: 'Deep Link Hall', timezone: 'Europe/London', currency: 'GBP' } })
    assert.equal(hall.status, 201, JSON.stringify(hall.body))
    provider.addUser({ email: 'deep@oidc-hall.example', password: PASSWORD, name: 'Dana Deep', tenantId: stack.tenantId, roles: ['manager'], venueIds: [hall.body.id as string] })

    const page = await context.newPage()
    const deepLink = `/venues/${hall.body.id as string}/sync?from=mail`
    await page.goto(`${stack.gateway}${deepLink}`)
    await page.waitForURL('**/sign-in')
    await page.getByRole('button', { name: 'Sign in with your organisation' }).click()
    await signInAtProvider(page, 'deep@oidc-hall.example')
    await page.waitForURL((url) => url.origin === stack.gateway && url.pathname !== '/auth/callback')
    assert.equal(page.url(), `${stack.gateway}${deepLink}`, 'back on the page the link opened')
    await page.getByRole('heading', { name: 'Deep Link Hall' }).waitFor()
    assert.equal(await page.getByTestId('signed-in-as').innerText(), 'Dana Deep')
    assert.deepEqual(await webStorage(page), { local: {}, session: {} }, 'the pending sign-in is gone after the callback')
    await page.close()
  })

  scenario('with a provider that publishes no end_session_endpoint, the sign-in after a sign-out asks for the password again', async () => {
    await context.clearCookies()
    const page = await context.newPage()
    // The same provider, its discovery document without the endpoint (as some providers publish it).
    await page.route(`${provider.issuer}/.well-known/openid-configuration`, async (route) => {
      const response = await route.fetch()
      const { end_session_endpoint: _dropped, ...discovery } = (await response.json()) as Record<string, unknown>
      await route.fulfill({ response, json: discovery })
    })
    await page.goto(`${stack.gateway}/`)
    await page.getByRole('button', { name: 'Sign in with your organisation' }).click()
    await signInAtProvider(page, 'deep@oidc-hall.example')
    await page.waitForURL(`${stack.gateway}/venues`)
    assert.equal(await page.getByTestId('signed-in-as').innerText(), 'Dana Deep')

    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL(`${stack.gateway}/sign-in`)
    // A reload (or a new tab) in between must not forget that the next sign-in needs a password.
    await page.reload()
    const visited: string[] = []
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) visited.push(frame.url())
    })
    await page.getByRole('button', { name: 'Sign in with your organisation' }).click()
    await page.waitForURL((url) => url.pathname.startsWith('/interaction/') || (url.origin === stack.gateway && url.pathname === '/venues'))
    assert.ok(
      visited.some((url) => url.startsWith(`${provider.issuer}/interaction/`)),
      `the provider asked for a password: ${visited.map((url) => url.replace(/\?.*/, '')).join(' → ')}`,
    )
    await signInAtProvider(page, 'deep@oidc-hall.example')
    await page.waitForURL(`${stack.gateway}/venues`)
    assert.deepEqual(await webStorage(page), { local: {}, session: {} }, 'nothing is left in web storage once signed in')
    await page.close()
  })
})
