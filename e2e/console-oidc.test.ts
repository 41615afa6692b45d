// The console in OpenID Connect mode, in real Chromium, against the whole stack and the development
// identity provider (oidc-provider): the person signs in at the provider (authorization code with
// PKCE), comes back signed in and the API accepts the provider's ES256 access token, its namespaced
// claims mapped to tenant, role and venues; no token is left in localStorage, sessionStorage or a
// cookie; the development sign-in is not offered; sign-out signs out. The stack keeps its HS256
// development secret, and the test's own API calls prove those tokens still work beside the JWKS.
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe } from 'node:test'
import type { BrowserContext } from 'playwright-core'
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
    idp = await startIdentityProvider({ clients: [{ clientId: CLIENT_ID, redirectUris: [`http://127.0.0.1:${ports.gateway}/auth/callback`] }], audience: 'venue-hub', claimsNamespace: NAMESPACE })
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

const tokenHeader = (authorization: string): Record<string, unknown> => JSON.parse(Buffer.from(authorization.replace(/^Bearer /, '').split('.')[0] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>

describe('the console signed in through OpenID Connect', () => {
  scenario('a manager signs in at the provider with PKCE, the API accepts its token, no token is stored, and sign-out works', async () => {
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

    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL('**/sign-in')
    await page.getByRole('button', { name: 'Sign in with your organisation' }).waitFor()
    assert.equal(await page.getByTestId('signed-in-as').count(), 0)
    await page.goto(`${stack.gateway}/venues`)
    await page.waitForURL('**/sign-in')
    await page.close()
  })
})
