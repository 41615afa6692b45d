import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { bearer, testToken } from '@hub/service-kit/testing'
import { setupGateway } from './helpers.ts'

const { build } = await setupGateway()

/** A console build as Vite writes it: index.html plus content-hashed assets. */
function fakeBuild(): string {
  const root = mkdtempSync(join(tmpdir(), 'console-dist-'))
  mkdirSync(join(root, 'assets'))
  writeFileSync(join(root, 'index.html'), '<!doctype html><html><head><script type="module" src="/assets/index-abc123.js"></script></head><body><div id="app"></div></body></html>')
  writeFileSync(join(root, 'assets', 'index-abc123.js'), 'console.log("console")')
  writeFileSync(join(root, 'assets', '.env'), 'DOTFILE')
  return root
}

test('serves the console at / and its routes with no-cache, hashed assets as immutable, both under a strict CSP', async (t) => {
  const root = fakeBuild()
  t.after(() => rmSync(root, { recursive: true, force: true }))
  const gateway = await build({}, { consoleRoot: root })
  for (const url of ['/', '/venues', '/venues/5b1f0c1e-0000-4000-8000-000000000001/records', '/audit', '/oauth-complete?status=success']) {
    const page = await gateway.inject({ url })
    assert.equal(page.statusCode, 200, url)
    assert.match(String(page.headers['content-type']), /^text\/html/)
    assert.match(page.body, /<div id="app">/)
    assert.equal(page.headers['cache-control'], 'no-cache', url)
    const csp = String(page.headers['content-security-policy'])
    assert.match(csp, /default-src 'self'/)
    assert.match(csp, /script-src 'self'(;|$)/, 'no inline or eval scripts')
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/)
    assert.match(csp, /frame-ancestors 'none'/)
  }
  const asset = await gateway.inject({ url: '/assets/index-abc123.js' })
  assert.equal(asset.statusCode, 200)
  assert.equal(asset.headers['cache-control'], 'public, max-age=31536000, immutable')
  assert.match(String(asset.headers['content-type']), /javascript/)
  // An error under /assets is never cached: mid-rollout, the new index.html can ask a replica still
  // on the previous build for an asset it lacks, and the file is there a moment later.
  for (const url of ['/assets/missing-000.js', '/assets/..%2f..%2fetc/passwd', '/assets/', '/assets/index-abc123.js%00.html', '/assets/.env']) {
    const refused = await gateway.inject({ url })
    assert.ok(refused.statusCode >= 400, `${url}: ${refused.statusCode}`)
    assert.equal(refused.headers['cache-control'], 'no-store', url)
    assert.doesNotMatch(refused.body, /DOTFILE/, url)
  }
  writeFileSync(join(root, 'assets', 'missing-000.js'), 'console.log("deployed")')
  const deployed = await gateway.inject({ url: '/assets/missing-000.js' })
  assert.equal(deployed.statusCode, 200)
  assert.equal(deployed.headers['cache-control'], 'public, max-age=31536000, immutable')
})

test('the API, the docs, webhooks and health keep working next to the console', async (t) => {
  const root = fakeBuild()
  t.after(() => rmSync(root, { recursive: true, force: true }))
  const gateway = await build({}, { consoleRoot: root })
  const refused = await gateway.inject({ url: '/api/v1/venues' })
  assert.equal(refused.statusCode, 401)
  assert.match(String(refused.headers['content-type']), /application\/problem\+json/)
  assert.equal((await gateway.inject({ url: '/health' })).statusCode, 200)
  assert.equal((await gateway.inject({ url: '/openapi.json' })).statusCode, 200)
  const docs = await gateway.inject({ url: '/docs/' })
  assert.equal(docs.statusCode, 200)
  assert.match(docs.body, /swagger/i)
  const webhook = await gateway.inject({ method: 'POST', url: '/api/v1/integrations/webhooks/stripe/x', payload: '{}', headers: { 'content-type': 'application/json' } })
  assert.equal(webhook.statusCode, 200, 'webhooks still reach integration-service without a token')
  assert.equal((await gateway.inject({ url: '/no-such-page' })).statusCode, 404)
})

test('without a console build the gateway still starts and / is a 404', async () => {
  const gateway = await build({}, { consoleRoot: join(tmpdir(), `no-console-${randomUUID()}`) })
  assert.equal((await gateway.inject({ url: '/' })).statusCode, 404)
  assert.equal((await gateway.inject({ url: '/health' })).statusCode, 200)
})

test('development sign-in mints a working token per persona, the manager bound to a venue of the demo tenant', async () => {
  const demoTenant = randomUUID()
  const operatorTenant = randomUUID()
  const gateway = await build({ DEMO_TENANT_ID: demoTenant, OPERATOR_TENANT_IDS: operatorTenant })
  const settings = await gateway.inject({ url: '/console/settings.json' })
  assert.equal(settings.json().devSignIn, true)
  assert.equal(settings.json().oidc, null)

  const noVenue = await gateway.inject({ method: 'POST', url: '/console/dev-sign-in', payload: { persona: 'manager' } })
  assert.equal(noVenue.statusCode, 409)
  assert.equal(noVenue.json().code, 'NO_VENUE_TO_MANAGE')

  const admin = await gateway.inject({ method: 'POST', url: '/console/dev-sign-in', payload: { persona: 'admin' } })
  assert.equal(admin.statusCode, 200, admin.body)
  assert.equal(admin.json().tenantId, demoTenant)
  const created = await gateway.inject({ method: 'POST', url: '/api/v1/venues', headers: bearer(admin.json().token), payload: { name: 'Dev Sign-in Hall', timezone: 'UTC', currency: 'EUR' } })
  assert.equal(created.statusCode, 201, created.body)
  const later = await gateway.inject({ method: 'POST', url: '/api/v1/venues', headers: bearer(admin.json().token), payload: { name: 'Later Hall', timezone: 'UTC', currency: 'EUR' } })
  assert.equal(later.statusCode, 201, later.body)

  // The manager persona manages the tenant's first venue, not whichever was created last.
  const manager = await gateway.inject({ method: 'POST', url: '/console/dev-sign-in', payload: { persona: 'manager' } })
  assert.equal(manager.statusCode, 200, manager.body)
  assert.deepEqual(manager.json().venueIds, [created.json().id])
  const managed = await gateway.inject({ url: `/api/v1/venues/${created.json().id}`, headers: bearer(manager.json().token) })
  assert.equal(managed.statusCode, 200)

  const viewer = await gateway.inject({ method: 'POST', url: '/console/dev-sign-in', payload: { persona: 'viewer' } })
  const refused = await gateway.inject({ method: 'POST', url: '/api/v1/venues', headers: bearer(viewer.json().token), payload: { name: 'Nope', timezone: 'UTC', currency: 'EUR' } })
  assert.equal(refused.statusCode, 403, 'a viewer token cannot write')

  const operator = await gateway.inject({ method: 'POST', url: '/console/dev-sign-in', payload: { persona: 'operator' } })
  assert.equal(operator.json().tenantId, operatorTenant)

  const bad = await gateway.inject({ method: 'POST', url: '/console/dev-sign-in', payload: { persona: 'root' } })
  assert.equal(bad.statusCode, 400)
})

test('every page the settings point the console at opens in a browser tab, which carries no bearer token', async () => {
  // The console keeps its token in memory and sends it as an Authorization header; a link or a new
  // tab sends cookies only, so a URL that needs the bearer could only ever answer 401 there.
  const gateway = await build({ OPERATOR_TENANT_IDS: randomUUID() })
  const settings = (await gateway.inject({ url: '/console/settings.json' })).json() as Record<string, unknown>
  assert.deepEqual(Object.keys(settings).sort(), ['devSignIn', 'oidc'], 'the settings carry the sign-in and nothing else')
  const paths = Object.entries(settings).filter((entry): entry is [string, string] => typeof entry[1] === 'string' && entry[1].startsWith('/'))
  for (const [name, url] of paths) {
    const opened = await gateway.inject({ url, headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' } })
    assert.notEqual(opened.statusCode, 401, `${name}: ${url} needs a bearer token a browser tab never sends`)
  }
})

test('development sign-in does not exist with NODE_ENV=production, where a shared secret is refused outright', async () => {
  const production = { NODE_ENV: 'production', JWT_JWKS_URL: 'http://127.0.0.1:9/.well-known/jwks.json', OIDC_ISSUER: 'https://login.example.com/', OIDC_CLIENT_ID: 'venue-hub-console' }
  await assert.rejects(build(production), /JWT_SECRET: production accepts only the JWKS-signed tokens/)
  const gateway = await build({ ...production, JWT_SECRET: '' })
  const signIn = await gateway.inject({ method: 'POST', url: '/console/dev-sign-in', payload: { persona: 'admin' } })
  assert.equal(signIn.statusCode, 404)
  const settings = (await gateway.inject({ url: '/console/settings.json' })).json()
  assert.equal(settings.devSignIn, false)
  assert.deepEqual(settings.oidc, { issuer: 'https://login.example.com/', clientId: 'venue-hub-console', audience: 'venue-hub', scopes: 'openid profile', claimsNamespace: '' })
  // The token of a dev sign-in elsewhere is no use here: production verifies against the JWKS.
  const token = testToken({ tenantId: randomUUID(), roles: ['admin'] })
  assert.equal((await gateway.inject({ url: '/api/v1/venues', headers: bearer(token) })).statusCode, 401)
})

test("the console's CSP lets the browser reach the OpenID provider and nothing else", async (t) => {
  const root = fakeBuild()
  t.after(() => rmSync(root, { recursive: true, force: true }))
  const gateway = await build({ OIDC_ISSUER: 'https://login.example.com/realms/hub', OIDC_CLIENT_ID: 'console' }, { consoleRoot: root })
  const csp = String((await gateway.inject({ url: '/' })).headers['content-security-policy'])
  assert.match(csp, /connect-src 'self' https:\/\/login\.example\.com(;|$)/)
})

test('beside a configured OpenID provider the development sign-in is not offered, even outside production', async (t) => {
  const root = fakeBuild()
  t.after(() => rmSync(root, { recursive: true, force: true }))
  const gateway = await build({ OIDC_ISSUER: 'http://127.0.0.1:9', OIDC_CLIENT_ID: 'console', JWT_CLAIMS_NAMESPACE: 'https://hub.example/' }, { consoleRoot: root })
  const settings = (await gateway.inject({ url: '/console/settings.json' })).json()
  assert.equal(settings.devSignIn, false)
  assert.equal(settings.oidc.claimsNamespace, 'https://hub.example/')
  assert.equal((await gateway.inject({ method: 'POST', url: '/console/dev-sign-in', payload: { persona: 'admin' } })).statusCode, 404)
})
