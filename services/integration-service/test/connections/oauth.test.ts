import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import type { ServiceInstance } from '@hub/service-kit'
import { bearer, testToken } from '@hub/service-kit/testing'
import { RETURN_URL, holdable, setupRig } from './rig.ts'
import { createConnectionContext } from '../../src/plugins/app/connections/connection-context.ts'
import { createSquareAdapter } from '../../src/providers/square/index.ts'

const rig = await setupRig()
const tenant = randomUUID()
const admin = bearer(testToken({ tenantId: tenant, roles: ['admin'], sub: 'oauth-admin' }))

/** The `name=value` part of each Set-Cookie, as a browser would send it back. */
function cookiesFrom(setCookie: string | string[] | undefined): string {
  return [setCookie ?? []]
    .flat()
    .map((line) => line.split(';')[0])
    .join('; ')
}

/**
 * Authorize at the hub and approve at the provider: the callback path, and the browser's cookies.
 * `simParams` go to the simulator's consent page (e.g. `sim_merchant_id`: the Square merchant who approves).
 */
async function startConsent(app: ServiceInstance, provider: string, venueId: string, headers = admin, simParams: Record<string, string> = {}) {
  const started = await app.inject({ url: `/api/v1/integrations/oauth/${provider}/authorize?venueId=${venueId}`, headers })
  assert.equal(started.statusCode, 200, started.body)
  const { authorizeUrl, state } = started.json()
  const consentUrl = new URL(authorizeUrl)
  for (const [name, value] of Object.entries(simParams)) consentUrl.searchParams.set(name, value)
  const consent = await fetch(consentUrl, { redirect: 'manual' })
  assert.equal(consent.status, 302, `${provider} consent redirects`)
  const back = new URL(consent.headers.get('location') ?? '')
  assert.equal(back.searchParams.get('state'), state, 'the provider returns our state')
  return { back, state, cookie: cookiesFrom(started.headers['set-cookie']), setCookie: [started.headers['set-cookie'] ?? []].flat() }
}

/** Walks the consent like a browser: authorize at the hub, approve at the provider, come back. */
async function connect(app: ServiceInstance, provider: string, venueId: string, options: { tamperCode?: boolean; simParams?: Record<string, string> } = {}) {
  const { back, state, cookie } = await startConsent(app, provider, venueId, admin, options.simParams)
  if (options.tamperCode) back.searchParams.set('code', 'not-a-code-the-provider-issued')
  const callback = await app.inject({ url: `${back.pathname}${back.search}`, headers: { cookie } })
  assert.equal(callback.statusCode, 302, callback.body)
  return { location: new URL(String(callback.headers.location)), callbackPath: `${back.pathname}${back.search}`, state, cookie }
}

test('connects Square (PKCE), QuickBooks, Mailchimp and Stripe Connect through OAuth end to end', async (t) => {
  const app = await rig.build({}, { listen: true })
  t.after(() => app.close())
  for (const provider of ['square', 'quickbooks', 'mailchimp', 'stripe']) {
    const venueId = await rig.createVenue(tenant)
    const { location } = await connect(app, provider, venueId)
    assert.equal(`${location.origin}${location.pathname}`, RETURN_URL)
    assert.equal(location.searchParams.get('status'), 'success', `${provider}: ${location.search}`)
    const id = location.searchParams.get('connectionId') ?? ''
    const connection = (await app.inject({ url: `/api/v1/integrations/connections/${id}`, headers: admin })).json()
    assert.equal(connection.status, 'active', provider)
    assert.equal(connection.authType, 'oauth2')
    assert.ok(connection.accountId, `${provider} account`)
    assert.ok(connection.credentials.accessToken, `${provider} masked access token`)
    const tested = await app.inject({ method: 'POST', url: `/api/v1/integrations/connections/${id}/test`, headers: admin })
    assert.equal(tested.json().ok, true, `${provider} tokens work: ${tested.body}`)
    if (provider === 'mailchimp') {
      const [meta] = await rig.db.adminQuery<{ provider_meta: { dc?: string } }>('select provider_meta from integration.connections where id = $1', [id])
      assert.match(meta?.provider_meta.dc ?? '', /^[a-z]{2}\d+$/, 'the data centre from the OAuth metadata is kept for later calls')
    }
    const actions = await rig.db.adminQuery<{ action: string }>('select action from integration.audit_outbox where entity_id = $1 order by occurred_at', [id])
    assert.deepEqual(
      actions.map((a) => a.action),
      ['connection.oauth_completed', 'connection.tested'],
    )
  }
})

test('a refused code, a replayed state and an expired state end in an error redirect and store nothing', async () => {
  const app = await rig.build()
  const venueId = await rig.createVenue(tenant)
  const count = async () => (await rig.db.adminQuery<{ n: string }>('select count(*)::text as n from integration.connections where venue_id = $1', [venueId]))[0]?.n
  const refused = await connect(app, 'square', venueId, { tamperCode: true })
  assert.equal(refused.location.searchParams.get('reason'), 'exchange_failed')
  assert.equal(await count(), '0')

  const ok = await connect(app, 'quickbooks', venueId)
  assert.equal(ok.location.searchParams.get('status'), 'success')
  const replay = await app.inject({ url: ok.callbackPath, headers: { cookie: ok.cookie } })
  assert.equal(new URL(String(replay.headers.location)).searchParams.get('reason'), 'invalid_state')

  const started = await startConsent(app, 'square', venueId)
  await rig.db.adminQuery("update integration.oauth_states set expires_at = now() - interval '1 minute' where used_at is null")
  const expired = await app.inject({ url: `${started.back.pathname}${started.back.search}`, headers: { cookie: started.cookie } })
  assert.equal(new URL(String(expired.headers.location)).searchParams.get('reason'), 'expired_state')
  const forged = await app.inject({ url: `/api/v1/integrations/oauth/square/callback?code=x&state=${'a'.repeat(43)}` })
  assert.equal(new URL(String(forged.headers.location)).searchParams.get('reason'), 'invalid_state')
  assert.equal(await count(), '1', 'only the QuickBooks connection')
  const [stored] = await rig.db.adminQuery<{ state_hash: string }>('select state_hash from integration.oauth_states limit 1')
  assert.match(stored?.state_hash ?? '', /^[0-9a-f]{64}$/, 'only a hash of the state is kept')
})

test('a callback finished in another browser connects nothing; the browser that started the flow connects', async () => {
  const app = await rig.build()
  const venueId = await rig.createVenue(tenant)
  const count = async () => Number((await rig.db.adminQuery<{ n: string }>('select count(*)::text as n from integration.connections where venue_id = $1', [venueId]))[0]?.n)
  const flow = await startConsent(app, 'stripe', venueId)
  const setCookie = flow.setCookie.join('\n')
  assert.match(setCookie, /HttpOnly/)
  assert.match(setCookie, /SameSite=Lax/)
  assert.match(setCookie, /Max-Age=600/)
  assert.match(setCookie, /Path=\/api\/v1\/integrations\/oauth\//)
  assert.doesNotMatch(setCookie, /Secure/, 'plain http (the test hub) gets no Secure flag')
  const callbackPath = `${flow.back.pathname}${flow.back.search}`

  // The victim's browser: no cookie, or a cookie of another flow, or a forged value.
  const other = await startConsent(app, 'stripe', venueId)
  const otherValue = other.cookie.split('=')[1] ?? ''
  const [name] = flow.cookie.split('=')
  for (const cookie of [undefined, other.cookie, `${name}=${otherValue}`, `${name}=`, `${name}=${'A'.repeat(43)}`]) {
    const response = await app.inject({ url: callbackPath, headers: cookie === undefined ? {} : { cookie } })
    assert.equal(response.statusCode, 403, `${cookie}: ${response.body}`)
    assert.match(String(response.headers['content-type']), /application\/problem\+json/)
    assert.equal(response.json().code, 'OAUTH_BROWSER_MISMATCH')
  }
  assert.equal(await count(), 0, 'nothing connected')

  // The browser that started it (with unrelated cookies around it) still finishes.
  const done = await app.inject({ url: callbackPath, headers: { cookie: `theme=dark; ${flow.cookie}; other=1` } })
  assert.equal(done.statusCode, 302, done.body)
  assert.equal(new URL(String(done.headers.location)).searchParams.get('status'), 'success')
  assert.match(String(done.headers['set-cookie']), /Max-Age=0/, 'the binding cookie is cleared')
  assert.equal(await count(), 1)
})

test('the binding cookie is Secure when the hub is served over https', async () => {
  const app = await rig.build({ PUBLIC_URL: 'https://hub.example.test' })
  const venueId = await rig.createVenue(tenant)
  const started = await app.inject({ url: `/api/v1/integrations/oauth/square/authorize?venueId=${venueId}`, headers: admin })
  assert.match(String(started.headers['set-cookie']), /; Secure/)
})

test('authorize is for managers of the venue, and the callback needs no token', async () => {
  const app = await rig.build()
  const venueId = await rig.createVenue(tenant)
  const outsider = bearer(testToken({ tenantId: tenant, roles: ['manager'], venueIds: [randomUUID()] }))
  assert.equal((await app.inject({ url: `/api/v1/integrations/oauth/square/authorize?venueId=${venueId}`, headers: outsider })).statusCode, 403)
  assert.equal((await app.inject({ url: `/api/v1/integrations/oauth/square/authorize?venueId=${venueId}` })).statusCode, 401)
  assert.equal((await app.inject({ url: `/api/v1/integrations/oauth/paypal/authorize?venueId=${venueId}`, headers: admin })).statusCode, 400)
  const noOauth = await rig.build({ SQUARE_CLIENT_ID: '', SQUARE_CLIENT_SECRET: '' })
  const refused = await noOauth.inject({ url: `/api/v1/integrations/oauth/square/authorize?venueId=${venueId}`, headers: admin })
  assert.equal(refused.json().code, 'OAUTH_NOT_CONFIGURED')
})

/** A QuickBooks connection made through OAuth, and the access token it holds. */
async function connectedQuickBooks(): Promise<{ app: ServiceInstance; id: string; stale: string | undefined }> {
  const app = await rig.build()
  const venueId = await rig.createVenue(tenant)
  const { location } = await connect(app, 'quickbooks', venueId)
  const id = location.searchParams.get('connectionId') ?? ''
  const row = await app.db.withTenant(tenant, (trx) => app.connections.findById(trx, id))
  return { app, id, stale: app.vault.open(tenant, id, row!.secrets).accessToken }
}

test('two refreshes racing for one connection spend the single-use refresh token once', async () => {
  const { app, id, stale } = await connectedQuickBooks()
  const [first, second] = await Promise.all([app.connectionContext.refresh(tenant, id, stale), app.connectionContext.refresh(tenant, id, stale)])
  assert.equal(first.accessToken, second.accessToken, 'the second caller reuses the first refresh')
  assert.notEqual(first.accessToken, stale)
  const after = await app.db.withTenant(tenant, (trx) => app.connections.findById(trx, id))
  assert.equal(after?.status, 'active')
  const refreshed = await rig.db.adminQuery<{ n: string }>("select count(*)::text as n from integration.audit_outbox where entity_id = $1 and action = 'connection.token_refreshed'", [id])
  assert.equal(refreshed[0]?.n, '1')
  assert.equal((await app.inject({ method: 'POST', url: `/api/v1/integrations/connections/${id}/test`, headers: admin })).json().ok, true)

  // A refresh token the provider no longer honours marks the connection for re-authorization.
  const current = app.vault.open(tenant, id, after!.secrets)
  await fetch(`${rig.simUrls.quickbooks}/_sim/credentials/revoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ credential: current.refreshToken }) })
  await assert.rejects(app.connectionContext.refresh(tenant, id, current.accessToken))
  const final = await app.db.withTenant(tenant, (trx) => app.connections.findById(trx, id))
  assert.equal(final?.status, 'needs_reauth')
})

test("a refresh slower than the lock's lapse keeps the lock: a caller waiting meanwhile reuses its tokens, the refresh token is spent once", async () => {
  const { app, id, stale } = await connectedQuickBooks()
  // The provider answers the refresh after three lapses of the lock.
  const binding = app.providers.quickbooks
  const oauth = binding.adapter.oauth!
  let refreshes = 0
  const slow = {
    ...oauth,
    refresh: async (input: Parameters<typeof oauth.refresh>[0]) => {
      refreshes++
      await new Promise((resolve) => setTimeout(resolve, 600))
      return oauth.refresh(input)
    },
  }
  const context = createConnectionContext({
    db: app.db,
    connections: app.connections,
    vault: app.vault,
    registry: { ...app.providers, quickbooks: { ...binding, adapter: { ...binding.adapter, oauth: slow } } },
    redis: app.redis,
    redisPrefix: app.redisPrefix,
    audit: app.auditOutbox,
    refreshLock: { ttlMs: 200, waitMs: 10_000 },
  })
  const first = context.refresh(tenant, id, stale)
  await new Promise((resolve) => setTimeout(resolve, 300))
  const second = context.refresh(tenant, id, stale)
  const [a, b] = await Promise.all([first, second])
  assert.equal(refreshes, 1, 'one call to the provider')
  assert.equal(a.accessToken, b.accessToken)
  assert.notEqual(a.accessToken, stale)
  assert.equal((await app.db.withTenant(tenant, (trx) => app.connections.findById(trx, id)))?.status, 'active')
})

const squareToken = () => `EAAA${randomUUID().replaceAll('-', '')}${randomUUID().replaceAll('-', '')}`.slice(0, 64)
const squareSubscriptionsOf = async (connectionId: string) =>
  ((await (await fetch(`${rig.simUrls.square}/_sim/webhooks`)).json()) as { subscriptions: Array<{ id: string; accountId: string; notification_url: string }> }).subscriptions
    .filter((subscription) => subscription.notification_url.includes(connectionId))
    .map((subscription) => ({ id: subscription.id, accountId: subscription.accountId }))
const squareAnswers = async (accessToken: string | undefined) => (await fetch(`${rig.simUrls.square}/v2/merchants/me`, { headers: { authorization: `Bearer ${accessToken}`, 'square-version': '2025-01-23' } })).status

async function squareKeyConnection(app: ServiceInstance, venueId: string, extra: { webhookSecret?: string } = {}) {
  const created = await app.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: admin, payload: { venueId, provider: 'square', credentials: { apiKey: squareToken() }, ...extra } })
  assert.equal(created.statusCode, 201, created.body)
  return created.json()
}

test('OAuth completed over an API-key connection of the same merchant makes it an OAuth connection: key dropped, webhook re-registered through OAuth, tokens refreshed, grant revoked on disconnect', async (t) => {
  const app = await rig.build({}, { listen: true })
  t.after(() => app.close())
  const venueId = await rig.createVenue(tenant)
  const keyed = await squareKeyConnection(app, venueId)
  const { location } = await connect(app, 'square', venueId, { simParams: { sim_merchant_id: keyed.accountId } })
  assert.equal(location.searchParams.get('status'), 'success', location.search)
  assert.equal(location.searchParams.get('connectionId'), keyed.id, 'the live connection is reused')

  const after = (await app.inject({ url: `/api/v1/integrations/connections/${keyed.id}`, headers: admin })).json()
  assert.equal(after.authType, 'oauth2')
  assert.equal(after.accountId, keyed.accountId)
  assert.ok(after.tokenExpiresAt, 'the token expiry is kept')
  assert.deepEqual(Object.keys(after.credentials).sort(), ['accessToken', 'refreshToken', 'webhookSecret'], 'the API key is dropped')
  assert.notEqual(after.webhook.endpointId, keyed.webhook.endpointId, 'the endpoint registered with the dropped key was replaced')
  assert.deepEqual(await squareSubscriptionsOf(keyed.id), [{ id: after.webhook.endpointId, accountId: keyed.accountId }])

  // An access token about to expire is refreshed, as for any OAuth connection.
  const row = await app.db.withTenant(tenant, (trx) => app.connections.findById(trx, keyed.id))
  const stale = app.vault.open(tenant, keyed.id, row!.secrets).accessToken
  await rig.db.adminQuery("update integration.connections set token_expires_at = now() + interval '1 minute' where id = $1", [keyed.id])
  const refreshed = (await app.connectionContext.forSync(tenant, keyed.id)).ctx.credentials.accessToken
  assert.notEqual(refreshed, stale)
  const audits = await rig.db.adminQuery<{ n: string }>("select count(*)::text as n from integration.audit_outbox where entity_id = $1 and action = 'connection.token_refreshed'", [keyed.id])
  assert.equal(audits[0]?.n, '1')

  assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/integrations/connections/${keyed.id}`, headers: admin })).statusCode, 204)
  assert.equal(await squareAnswers(refreshed), 401, 'the grant is revoked at Square on disconnect')
  assert.deepEqual(await squareSubscriptionsOf(keyed.id), [])
})

test("a grant two venues' OAuth connections share (one Square seller) is revoked only when the last of them disconnects", async (t) => {
  const app = await rig.build({}, { listen: true })
  t.after(() => app.close())
  // A seller whose account a key connection opened at the simulator; two venues (of two tenants) then connect it through OAuth.
  const merchant = (await squareKeyConnection(app, await rig.createVenue(tenant))).accountId as string
  const other = randomUUID()
  const otherAdmin = bearer(testToken({ tenantId: other, roles: ['admin'], sub: 'oauth-admin-2' }))
  const venues = [
    { tenantId: tenant, headers: admin, venueId: await rig.createVenue(tenant) },
    { tenantId: other, headers: otherAdmin, venueId: await rig.createVenue(other) },
  ]
  const connected: Array<{ tenantId: string; headers: Record<string, string>; id: string; token: string | undefined }> = []
  for (const venue of venues) {
    const { back, cookie } = await startConsent(app, 'square', venue.venueId, venue.headers, { sim_merchant_id: merchant })
    const callback = await app.inject({ url: `${back.pathname}${back.search}`, headers: { cookie } })
    const id = new URL(String(callback.headers.location)).searchParams.get('connectionId') ?? ''
    assert.ok(id, String(callback.headers.location))
    const row = await app.db.withTenant(venue.tenantId, (trx) => app.connections.findById(trx, id))
    assert.equal(row?.account_id, merchant)
    connected.push({ tenantId: venue.tenantId, headers: venue.headers, id, token: app.vault.open(venue.tenantId, id, row!.secrets).accessToken })
  }
  const [first, second] = connected as [(typeof connected)[0], (typeof connected)[0]]
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/integrations/connections/${first.id}`, headers: first.headers })).statusCode, 204)
  assert.equal(await squareAnswers(second.token), 200, "the other venue's connection keeps working")
  assert.equal(await squareAnswers(first.token), 200, 'the grant is the seller’s: its tokens stay valid while the other connection uses it')
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/integrations/connections/${second.id}`, headers: second.headers })).statusCode, 204)
  assert.equal(await squareAnswers(second.token), 401, 'the last one out revokes the grant')
})

test('OAuth completed over a connection of another merchant moves the webhook to the new merchant, and a refused token then means needs_reauth', async (t) => {
  const app = await rig.build({}, { listen: true })
  t.after(() => app.close())
  const venueId = await rig.createVenue(tenant)
  const keyed = await squareKeyConnection(app, venueId)
  const { location } = await connect(app, 'square', venueId)
  assert.equal(location.searchParams.get('connectionId'), keyed.id)
  const after = (await app.inject({ url: `/api/v1/integrations/connections/${keyed.id}`, headers: admin })).json()
  assert.equal(after.authType, 'oauth2')
  assert.notEqual(after.accountId, keyed.accountId, 'another merchant approved')
  assert.ok(after.webhook.registered, after.statusReason)
  assert.deepEqual(await squareSubscriptionsOf(keyed.id), [{ id: after.webhook.endpointId, accountId: after.accountId }], 'registered in the new account, removed from the old')

  const row = await app.db.withTenant(tenant, (trx) => app.connections.findById(trx, keyed.id))
  const { accessToken } = app.vault.open(tenant, keyed.id, row!.secrets)
  await fetch(`${rig.simUrls.square}/_sim/credentials/revoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ credential: accessToken }) })
  const tested = (await app.inject({ method: 'POST', url: `/api/v1/integrations/connections/${keyed.id}/test`, headers: admin })).json()
  assert.deepEqual({ ok: tested.ok, status: tested.status }, { ok: false, status: 'needs_reauth' })
})

test('a personal token replacing the credentials of a Square OAuth connection is what it then uses: tokens dropped and their grant revoked, the webhook moved', async (t) => {
  const app = await rig.build({}, { listen: true })
  t.after(() => app.close())
  const venueId = await rig.createVenue(tenant)
  const { location } = await connect(app, 'square', venueId)
  const id = location.searchParams.get('connectionId') ?? ''
  const oauth = (await app.inject({ url: `/api/v1/integrations/connections/${id}`, headers: admin })).json()
  const row = await app.db.withTenant(tenant, (trx) => app.connections.findById(trx, id))
  const { accessToken } = app.vault.open(tenant, id, row!.secrets)

  const patched = await app.inject({ method: 'PATCH', url: `/api/v1/integrations/connections/${id}`, headers: admin, payload: { credentials: { apiKey: squareToken() } } })
  assert.equal(patched.statusCode, 200, patched.body)
  const keyed = patched.json()
  assert.deepEqual([keyed.authType, keyed.tokenExpiresAt, keyed.status], ['api_key', null, 'active'])
  assert.deepEqual(Object.keys(keyed.credentials).sort(), ['apiKey', 'webhookSecret'], 'the OAuth tokens are dropped')
  assert.notEqual(keyed.accountId, oauth.accountId)
  const tested = (await app.inject({ method: 'POST', url: `/api/v1/integrations/connections/${id}/test`, headers: admin })).json()
  assert.deepEqual({ ok: tested.ok, accountId: tested.accountId }, { ok: true, accountId: keyed.accountId }, 'provider calls use the key just stored')
  assert.equal(await squareAnswers(accessToken), 401, 'the replaced grant is revoked at Square')
  assert.deepEqual(await squareSubscriptionsOf(id), [{ id: keyed.webhook.endpointId, accountId: keyed.accountId }], "the webhook moved to the key's merchant")
  assert.deepEqual(
    (await rig.db.adminQuery<{ action: string }>('select action from integration.audit_outbox where entity_id = $1 order by occurred_at', [id])).map((a) => a.action),
    ['connection.oauth_completed', 'connection.updated', 'connection.tested'],
  )
})

test("OAuth finishing while the venue's connection is disconnected does not bring it back: the tokens make a new connection, or none once the venue is deleted", async (t) => {
  const square = holdable(createSquareAdapter())
  const app = await rig.build({}, { listen: true, adapters: { square: square.adapter } })
  t.after(() => app.close())
  for (const disconnect of ['connection', 'venue'] as const) {
    const venueId = await rig.createVenue(tenant)
    // The venue registered this connection's endpoint itself (it gave the secret): completing
    // OAuth registers the hub's own, and the disconnect comes in once Square has answered that.
    const keyed = await squareKeyConnection(app, venueId, { webhookSecret: 'venue-registered-signature-key' })
    const { back, cookie } = await startConsent(app, 'square', venueId)
    const held = square.holdNext('registerWebhook')
    const callback = app.inject({ url: `${back.pathname}${back.search}`, headers: { cookie } })
    await held.reached
    if (disconnect === 'connection') assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/integrations/connections/${keyed.id}`, headers: admin })).statusCode, 204)
    else assert.deepEqual((await rig.deleteVenue(tenant, venueId)).disconnected, [keyed.id])
    held.release()
    const outcome = new URL(String((await callback).headers.location)).searchParams
    const rows = await rig.db.adminQuery<{ id: string; status: string; auth_type: string; secrets: object }>('select id, status, auth_type, secrets from integration.connections where venue_id = $1 order by created_at', [venueId])
    assert.deepEqual(rows[0], { id: keyed.id, status: 'disconnected', auth_type: 'api_key', secrets: {} }, `${disconnect}: the disconnected connection stays disconnected`)
    assert.deepEqual(await squareSubscriptionsOf(keyed.id), [], `${disconnect}: nothing registered for it is left`)
    if (disconnect === 'connection') {
      assert.equal(outcome.get('status'), 'success', outcome.toString())
      const fresh = outcome.get('connectionId') ?? ''
      assert.notEqual(fresh, keyed.id)
      assert.deepEqual(
        rows.slice(1).map((row) => [row.id, row.status, row.auth_type]),
        [[fresh, 'active', 'oauth2']],
      )
      assert.equal((await squareSubscriptionsOf(fresh)).length, 1)
    } else {
      assert.equal(outcome.get('status'), 'error', 'the venue is gone')
      assert.deepEqual(
        rows.map((row) => row.status),
        rows.map(() => 'disconnected'),
      )
      for (const row of rows) assert.deepEqual(await squareSubscriptionsOf(row.id), [])
    }
  }
})
