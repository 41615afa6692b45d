import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { DecryptionError } from '@hub/crypto'
import { bearer, captureLogs, testToken } from '@hub/service-kit/testing'
import { holdable, setupRig } from './rig.ts'
import { createStripeAdapter } from '../../src/providers/stripe/index.ts'
import { signedAs } from '../helpers.ts'

const rig = await setupRig()
const tenant = randomUUID()
const admin = bearer(testToken({ tenantId: tenant, roles: ['admin'], sub: 'admin-1' }))
const stripeKey = (tag: string) => `sk_test_${tag}${randomUUID().replaceAll('-', '')}`.slice(0, 60)
const squareToken = () => `EAAA${randomUUID().replaceAll('-', '')}${randomUUID().replaceAll('-', '')}`.slice(0, 64)
const mailchimpKey = () => `${randomUUID().replaceAll('-', '')}-us21`

const outboxFor = (id: string) => rig.db.adminQuery<{ action: string; actor_id: string }>('select action, actor_id from integration.audit_outbox where entity_id = $1 order by occurred_at', [id])

test('connects Stripe, Square and Mailchimp with API keys: verified, webhook registered, credentials masked, one outbox row each', async (t) => {
  const app = await rig.build({}, { listen: true })
  t.after(() => app.close())
  const venueId = await rig.createVenue(tenant)
  const cases = [
    { provider: 'stripe', apiKey: stripeKey('conn') },
    { provider: 'square', apiKey: squareToken() },
    { provider: 'mailchimp', apiKey: mailchimpKey() },
  ]
  for (const { provider, apiKey } of cases) {
    const response = await app.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: admin, payload: { venueId, provider, credentials: { apiKey } } })
    assert.equal(response.statusCode, 201, `${provider}: ${response.body}`)
    const connection = response.json()
    assert.equal(connection.status, 'active', provider)
    assert.equal(connection.venueId, venueId)
    assert.ok(connection.accountId, `${provider} account id`)
    assert.equal(connection.webhook.registered, true, `${provider} webhook registered: ${connection.statusReason}`)
    assert.ok(!response.body.includes(apiKey), `${provider} key not echoed`)
    assert.ok(connection.credentials.apiKey.endsWith(apiKey.slice(-4)), `${provider} masked key keeps the last four: ${connection.credentials.apiKey}`)
    assert.deepEqual(
      (await outboxFor(connection.id)).map((row) => row.action),
      ['connection.created'],
    )
    const [stored] = await rig.db.adminQuery<{ secrets: Record<string, string> }>('select secrets from integration.connections where id = $1', [connection.id])
    assert.ok(stored && !JSON.stringify(stored.secrets).includes(apiKey), 'stored encrypted')
  }
  const stripeHooks = await (await fetch(`${rig.simUrls.stripe}/_sim/webhooks`)).json()
  assert.ok(JSON.stringify(stripeHooks).includes('/api/v1/integrations/webhooks/stripe/'), 'the hub endpoint is registered at Stripe')
  const listed = await app.inject({ url: `/api/v1/integrations/connections?venueId=${venueId}&provider=square`, headers: admin })
  assert.deepEqual(
    listed.json().data.map((c: { provider: string }) => c.provider),
    ['square'],
  )
  const duplicate = await app.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: admin, payload: { venueId, provider: 'stripe', credentials: { apiKey: stripeKey('dup') } } })
  assert.equal(duplicate.statusCode, 409)
  assert.equal(duplicate.json().code, 'ALREADY_CONNECTED')
})

test('bad input gives clear 4xx problem+json and stores nothing', async () => {
  const app = await rig.build()
  const venueId = await rig.createVenue(tenant)
  const before = await rig.db.adminQuery<{ n: string }>('select count(*)::text as n from integration.connections')
  const revoked = stripeKey('revoked')
  await fetch(`${rig.simUrls.stripe}/_sim/credentials/revoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ credential: revoked }) })
  const cases: Array<[unknown, number, string]> = [
    [{ venueId, provider: 'paypal', credentials: { apiKey: 'x' } }, 400, 'VALIDATION_FAILED'],
    [{ venueId, provider: 'stripe', credentials: { apiKey: 'pk_live_nope' } }, 400, 'CREDENTIALS_MALFORMED'],
    [{ venueId, provider: 'mailchimp', credentials: { apiKey: 'abc-us21' } }, 400, 'CREDENTIALS_MALFORMED'],
    [{ venueId, provider: 'quickbooks', credentials: { apiKey: 'whatever-key' } }, 400, 'OAUTH_REQUIRED'],
    [{ venueId: 'not-a-uuid', provider: 'stripe', credentials: { apiKey: stripeKey('x') } }, 400, 'VALIDATION_FAILED'],
    [{ venueId: randomUUID(), provider: 'stripe', credentials: { apiKey: stripeKey('x') } }, 404, 'VENUE_NOT_FOUND'],
    [{ venueId, provider: 'stripe', credentials: { apiKey: revoked } }, 422, 'CREDENTIALS_REJECTED'],
    [{ venueId, provider: 'stripe', credentials: { apiKey: stripeKey('x'), extra: 1 } }, 400, 'VALIDATION_FAILED'],
  ]
  for (const [payload, status, code] of cases) {
    const response = await app.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: admin, payload: payload as object })
    assert.equal(response.statusCode, status, `${JSON.stringify(payload)}: ${response.body}`)
    assert.equal(response.json().code, code)
    assert.match(String(response.headers['content-type']), /application\/problem\+json/)
  }
  const oversized = await app.inject({
    method: 'POST',
    url: '/api/v1/integrations/connections',
    headers: { ...admin, 'content-type': 'application/json' },
    payload: JSON.stringify({ venueId, provider: 'stripe', credentials: { apiKey: 'x'.repeat(400_000) } }),
  })
  assert.equal(oversized.statusCode, 413)
  assert.equal((await app.inject({ url: '/api/v1/integrations/connections/nope', headers: admin })).statusCode, 400)
  const after = await rig.db.adminQuery<{ n: string }>('select count(*)::text as n from integration.connections')
  assert.deepEqual(after, before, 'nothing stored')
  const outbox = await rig.db.adminQuery<{ n: string }>("select count(*)::text as n from integration.audit_outbox where action = 'connection.created' and tenant_id = $1", [tenant])
  const created = await rig.db.adminQuery<{ n: string }>('select count(*)::text as n from integration.connections where tenant_id = $1', [tenant])
  assert.equal(outbox[0]?.n, created[0]?.n, 'no audit row without a connection')
})

test('roles and tenancy: managers only in their venue_ids, other tenants see 404', async () => {
  const app = await rig.build()
  const mine = await rig.createVenue(tenant)
  const other = await rig.createVenue(tenant)
  const manager = bearer(testToken({ tenantId: tenant, roles: ['manager'], venueIds: [mine] }))
  const denied = await app.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: manager, payload: { venueId: other, provider: 'stripe', credentials: { apiKey: stripeKey('mgr') } } })
  assert.equal(denied.statusCode, 403)
  assert.equal(denied.json().code, 'VENUE_ACCESS_DENIED')
  const allowed = await app.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: manager, payload: { venueId: mine, provider: 'stripe', credentials: { apiKey: stripeKey('mgr') } } })
  assert.equal(allowed.statusCode, 201, allowed.body)
  const id = allowed.json().id
  const viewer = bearer(testToken({ tenantId: tenant, roles: ['viewer'] }))
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/integrations/connections/${id}`, headers: viewer })).statusCode, 403)
  const stranger = bearer(testToken({ tenantId: randomUUID(), roles: ['admin'] }))
  for (const request of [
    { method: 'GET' as const, url: `/api/v1/integrations/connections/${id}` },
    { method: 'PATCH' as const, url: `/api/v1/integrations/connections/${id}`, payload: { credentials: { apiKey: stripeKey('steal') } } },
    { method: 'DELETE' as const, url: `/api/v1/integrations/connections/${id}` },
    { method: 'POST' as const, url: `/api/v1/integrations/connections/${id}/test` },
  ]) {
    const response = await app.inject({ ...request, headers: stranger })
    assert.equal(response.statusCode, 404, `${request.method} ${request.url}`)
    assert.equal(response.json().code, 'CONNECTION_NOT_FOUND')
  }
  const foreignVenue = await app.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: stranger, payload: { venueId: mine, provider: 'square', credentials: { apiKey: squareToken() } } })
  assert.equal(foreignVenue.statusCode, 404, 'a venue of another tenant does not exist for this one')
})

test('update, test and disconnect each leave exactly one outbox row; disconnect removes the webhook and destroys secrets', async () => {
  const app = await rig.build()
  const venueId = await rig.createVenue(tenant)
  const created = (await app.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: admin, payload: { venueId, provider: 'stripe', credentials: { apiKey: stripeKey('life') } } })).json()
  const newKey = stripeKey('rotated')
  const updated = await app.inject({ method: 'PATCH', url: `/api/v1/integrations/connections/${created.id}`, headers: admin, payload: { credentials: { apiKey: newKey } } })
  assert.equal(updated.statusCode, 200, updated.body)
  assert.ok(updated.json().credentials.apiKey.endsWith(newKey.slice(-4)), 'shows the new key, masked')
  const tested = await app.inject({ method: 'POST', url: `/api/v1/integrations/connections/${created.id}/test`, headers: admin })
  assert.deepEqual({ ok: tested.json().ok, status: tested.json().status }, { ok: true, status: 'active' })
  const endpointsBefore = JSON.stringify(await (await fetch(`${rig.simUrls.stripe}/_sim/webhooks`)).json())
  assert.ok(endpointsBefore.includes(created.id), 'endpoint registered for this connection')
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/integrations/connections/${created.id}`, headers: admin })).statusCode, 204)
  const endpointsAfter = JSON.stringify(await (await fetch(`${rig.simUrls.stripe}/_sim/webhooks`)).json())
  assert.ok(!endpointsAfter.includes(created.id), 'endpoint removed at the provider')
  const [row] = await rig.db.adminQuery<{ status: string; secrets: object; masked: object }>('select status, secrets, masked from integration.connections where id = $1', [created.id])
  assert.deepEqual(row, { status: 'disconnected', secrets: {}, masked: {} })
  assert.deepEqual(
    (await outboxFor(created.id)).map((r) => r.action),
    ['connection.created', 'connection.updated', 'connection.tested', 'connection.disconnected'],
  )
  const retest = await app.inject({ method: 'POST', url: `/api/v1/integrations/connections/${created.id}/test`, headers: admin })
  assert.equal(retest.json().code, 'CONNECTION_DISCONNECTED')
})

const stripeEndpointsOf = async (id: string) => ((await (await fetch(`${rig.simUrls.stripe}/_sim/webhooks`)).json()) as { endpoints: Array<{ id: string; url: string }> }).endpoints.filter((endpoint) => endpoint.url.includes(id))

test('a disconnect that finishes while a test or a credential update waits on the provider wins: the late write is refused, nothing is revived or left registered, the venue connects again', async () => {
  const stripe = holdable(createStripeAdapter({ defaultRetryAfterMs: 1_000 }))
  const app = await rig.build({}, { adapters: { stripe: stripe.adapter } })
  for (const late of ['test', 'update'] as const) {
    const venueId = await rig.createVenue(tenant)
    const created = await app.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: admin, payload: { venueId, provider: 'stripe', credentials: { apiKey: stripeKey('race') } } })
    assert.equal(created.statusCode, 201, created.body)
    const id = created.json().id as string
    const held = stripe.holdNext('verifyCredentials')
    const slow =
      late === 'test'
        ? app.inject({ method: 'POST', url: `/api/v1/integrations/connections/${id}/test`, headers: admin })
        : // A key of another account: the update registers an endpoint there before storing anything.
          app.inject({ method: 'PATCH', url: `/api/v1/integrations/connections/${id}`, headers: admin, payload: { credentials: { apiKey: stripeKey('moved') } } })
    await held.reached
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/integrations/connections/${id}`, headers: admin })).statusCode, 204)
    held.release()
    const answer = await slow
    assert.equal(answer.statusCode, 409, `${late}: ${answer.body}`)
    assert.equal(answer.json().code, 'CONNECTION_DISCONNECTED')
    const [row] = await rig.db.adminQuery<{ status: string; secrets: object; masked: object; webhook_endpoint_id: string | null }>('select status, secrets, masked, webhook_endpoint_id from integration.connections where id = $1', [id])
    assert.deepEqual(row, { status: 'disconnected', secrets: {}, masked: {}, webhook_endpoint_id: null }, late)
    assert.deepEqual(await stripeEndpointsOf(id), [], `${late}: no endpoint of this connection is left at Stripe`)
    assert.deepEqual(
      (await outboxFor(id)).map((r) => r.action),
      ['connection.created', 'connection.disconnected'],
    )
    const again = await app.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: admin, payload: { venueId, provider: 'stripe', credentials: { apiKey: stripeKey('again') } } })
    assert.equal(again.statusCode, 201, `${late}: ${again.body}`)
  }
})

test("a venue deletion overlapping a credential update that moved the webhook removes the update's endpoint too", async () => {
  const stripe = holdable(createStripeAdapter({ defaultRetryAfterMs: 1_000 }))
  const app = await rig.build({}, { adapters: { stripe: stripe.adapter } })
  const venueId = await rig.createVenue(tenant)
  const created = (await app.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: admin, payload: { venueId, provider: 'stripe', credentials: { apiKey: stripeKey('overlap') } } })).json()
  // The deletion has read the connection and is removing its endpoint when the update comes in.
  const held = stripe.holdNext('removeWebhook')
  const path = `/internal/integrations/venue/${venueId}/disconnect`
  const body = JSON.stringify({ tenantId: tenant })
  const deleting = app.inject({ method: 'POST', url: path, headers: { ...signedAs('venue-service', 'POST', path, body), 'content-type': 'application/json' }, payload: body })
  await held.reached
  const patched = await app.inject({ method: 'PATCH', url: `/api/v1/integrations/connections/${created.id}`, headers: admin, payload: { credentials: { apiKey: stripeKey('other') } } })
  assert.equal(patched.statusCode, 200, patched.body)
  assert.notEqual(patched.json().webhook.endpointId, created.webhook.endpointId, 'the endpoint moved to the other account')
  held.release()
  const deleted = await deleting
  assert.equal(deleted.statusCode, 200, deleted.body)
  assert.deepEqual(deleted.json().disconnected, [created.id])
  const [row] = await rig.db.adminQuery<{ status: string; secrets: object }>('select status, secrets from integration.connections where id = $1', [created.id])
  assert.deepEqual(row, { status: 'disconnected', secrets: {} })
  assert.deepEqual(await stripeEndpointsOf(created.id), [], 'neither endpoint is left at Stripe')
})

test('a distinctive secret never appears in a response body, a log line or an error', async () => {
  const capture = captureLogs('trace')
  const app = await rig.build({ LOG_LEVEL: 'trace' }, { capture })
  const venueId = await rig.createVenue(tenant)
  const secret = 'sk_test_DISTINCTIVE0SECRET0VALUE0x9f2a'
  const bodies: string[] = []
  const created = await app.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: admin, payload: { venueId, provider: 'stripe', credentials: { apiKey: secret }, webhookSecret: 'whsec_DISTINCTIVE0WEBHOOK0SECRET' } })
  bodies.push(created.body)
  const id = created.json().id
  bodies.push((await app.inject({ url: `/api/v1/integrations/connections/${id}`, headers: admin })).body)
  bodies.push((await app.inject({ url: '/api/v1/integrations/connections', headers: admin })).body)
  bodies.push((await app.inject({ method: 'POST', url: `/api/v1/integrations/connections/${id}/test`, headers: admin })).body)
  bodies.push((await app.inject({ method: 'PATCH', url: `/api/v1/integrations/connections/${id}`, headers: admin, payload: { credentials: { apiKey: 'sk_live_DISTINCTIVE0BAD' } } })).body)
  bodies.push((await app.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: admin, payload: { venueId, provider: 'stripe', credentials: { apiKey: secret } } })).body)
  const outbox = await rig.db.adminQuery('select before, after from integration.audit_outbox where entity_id = $1', [id])
  for (const text of [...bodies, ...capture.lines, JSON.stringify(outbox)]) {
    assert.ok(!text.includes('DISTINCTIVE'), `leaked: ${text.slice(0, 300)}`)
  }
  assert.ok(capture.lines.length > 5, 'logs were captured')
})

test('a ciphertext moved to another row does not decrypt', async () => {
  const app = await rig.build()
  const [venueA, venueB] = [await rig.createVenue(tenant), await rig.createVenue(tenant)]
  const a = (await app.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: admin, payload: { venueId: venueA, provider: 'stripe', credentials: { apiKey: stripeKey('a') } } })).json()
  const b = (await app.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: admin, payload: { venueId: venueB, provider: 'stripe', credentials: { apiKey: stripeKey('b') } } })).json()
  await rig.db.adminQuery('update integration.connections set secrets = (select secrets from integration.connections where id = $1) where id = $2', [a.id, b.id])
  const [moved] = await rig.db.adminQuery<{ secrets: Record<string, string> }>('select secrets from integration.connections where id = $1', [b.id])
  assert.throws(() => app.vault.open(tenant, b.id, moved!.secrets), DecryptionError)
  assert.doesNotThrow(() => app.vault.open(tenant, a.id, moved!.secrets), 'still opens in its own row')
  const tested = await app.inject({ method: 'POST', url: `/api/v1/integrations/connections/${b.id}/test`, headers: admin })
  assert.equal(tested.statusCode, 500)
  assert.ok(!tested.body.includes('sk_test'), 'no secret in the error')
})

test("GET /internal/integrations/venue/:venueId/status lists each connection's status and last sync for signed callers", async () => {
  const app = await rig.build()
  const venueId = await rig.createVenue(tenant)
  const created = (await app.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: admin, payload: { venueId, provider: 'stripe', credentials: { apiKey: stripeKey('status') } } })).json()
  const log = await app.db.withTenant(tenant, (trx) => app.syncLogs.insert(trx, { tenantId: tenant, venueId, connectionId: created.id, provider: 'stripe', entity: 'customer', mode: 'full', trigger: 'manual', queue: 'integration-high' }))
  const finishedAt = new Date()
  await app.db.withTenant(tenant, (trx) => app.syncLogs.update(trx, log.id, { status: 'succeeded', startedAt: new Date(finishedAt.getTime() - 1000), finishedAt }))
  const path = `/internal/integrations/venue/${venueId}/status`
  const response = await app.inject({ url: path, headers: signedAs('compliance-service', 'GET', path) })
  assert.equal(response.statusCode, 200, response.body)
  assert.deepEqual(response.json(), {
    venueId,
    connections: [
      {
        connectionId: created.id,
        provider: 'stripe',
        status: 'active',
        lastSync: { syncLogId: log.id, entity: 'customer', status: 'succeeded', startedAt: new Date(finishedAt.getTime() - 1000).toISOString(), finishedAt: finishedAt.toISOString() },
        lastSuccessAt: finishedAt.toISOString(),
      },
    ],
  })
  const forbidden = await app.inject({ url: path, headers: signedAs('venue-service', 'GET', path) })
  assert.equal(forbidden.statusCode, 403)
  assert.equal((await app.inject({ url: path })).statusCode, 401)
})

// The whole path (DELETE /venues/:id through the gateway → venue-service → this route, and the 503
// when integration-service is down) runs on the real processes in e2e/cross-process.test.ts.
test("POST /internal/integrations/venue/:venueId/disconnect disconnects the venue's connections and only its, once even when asked again", async () => {
  const app = await rig.build({}, { listen: true })
  const venueId = await rig.createVenue(tenant)
  const otherVenueId = await rig.createVenue(tenant)
  const connect = async (venue: string, provider: 'stripe' | 'square', apiKey: string) => {
    const response = await app.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: admin, payload: { venueId: venue, provider, credentials: { apiKey } } })
    assert.equal(response.statusCode, 201, response.body)
    return response.json().id as string
  }
  const doomed = [await connect(venueId, 'stripe', stripeKey('doomed')), await connect(venueId, 'square', squareToken())]
  const kept = await connect(otherVenueId, 'stripe', stripeKey('kept'))
  const statuses = async () => Object.fromEntries((await rig.db.adminQuery<{ id: string; status: string }>('select id, status from integration.connections where id = any($1)', [[...doomed, kept]])).map((row) => [row.id, row.status]))

  const path = `/internal/integrations/venue/${venueId}/disconnect`
  const body = JSON.stringify({ tenantId: tenant })
  const first = await app.inject({ method: 'POST', url: path, headers: { ...signedAs('venue-service', 'POST', path, body), 'content-type': 'application/json' }, payload: body })
  assert.equal(first.statusCode, 200, first.body)
  assert.deepEqual([...first.json().disconnected].sort(), [...doomed].sort())
  assert.deepEqual(await statuses(), { [doomed[0]!]: 'disconnected', [doomed[1]!]: 'disconnected', [kept]: 'active' })
  const secrets = await rig.db.adminQuery<{ secrets: object }>('select secrets from integration.connections where id = any($1)', [doomed])
  assert.deepEqual(
    secrets.map((row) => row.secrets),
    [{}, {}],
    'the deleted venue keeps no credentials',
  )
  const stripeEndpoints = JSON.stringify(await (await fetch(`${rig.simUrls.stripe}/_sim/webhooks`)).json())
  assert.ok(!stripeEndpoints.includes(doomed[0]!), "the deleted venue's webhook endpoint is removed at the provider")
  assert.ok(stripeEndpoints.includes(kept), "the other venue's endpoint stays")
  for (const id of doomed) {
    assert.deepEqual(
      (await outboxFor(id)).filter((row) => row.action === 'connection.disconnected'),
      [{ action: 'connection.disconnected', actor_id: 'venue-service' }],
    )
  }

  // venue-service may retry after a timeout it could not see the end of: a repeat changes nothing.
  const again = await app.inject({ method: 'POST', url: path, headers: { ...signedAs('venue-service', 'POST', path, body), 'content-type': 'application/json' }, payload: body })
  assert.equal(again.statusCode, 200, again.body)
  assert.deepEqual(again.json(), { venueId, disconnected: [] })
  for (const id of doomed) assert.equal((await outboxFor(id)).filter((row) => row.action === 'connection.disconnected').length, 1, 'still one audit row')

  const otherTenant = JSON.stringify({ tenantId: randomUUID() })
  const untouched = await app.inject({
    method: 'POST',
    url: `/internal/integrations/venue/${otherVenueId}/disconnect`,
    headers: { ...signedAs('venue-service', 'POST', `/internal/integrations/venue/${otherVenueId}/disconnect`, otherTenant), 'content-type': 'application/json' },
    payload: otherTenant,
  })
  assert.deepEqual(untouched.json().disconnected, [], 'another tenant cannot reach this venue')
  assert.equal((await statuses())[kept], 'active')
  const forbidden = await app.inject({ method: 'POST', url: path, headers: { ...signedAs('compliance-service', 'POST', path, body), 'content-type': 'application/json' }, payload: body })
  assert.equal(forbidden.statusCode, 403, 'compliance-service may not disconnect')
  await app.close() // frees the public URL for the next test
})

test('a venue deleted while one of its connections is still being created does not keep that connection', async () => {
  const app = await rig.build({}, { listen: true })
  const venueId = await rig.createVenue(tenant)
  // Stripe answers the webhook registration slowly: the venue is deleted meanwhile, before the
  // connection is stored, so the deletion's sweeps find nothing to disconnect.
  const slowServed = async () => ((await (await fetch(`${rig.simUrls.stripe}/_sim/faults/served`)).json()) as { served: Array<{ kind: string }> }).served.filter((fault) => fault.kind === 'slow').length
  const before = await slowServed()
  await fetch(`${rig.simUrls.stripe}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'slow', times: 1, delayMs: 1_500, pathIncludes: '/v1/webhook_endpoints' }) })
  const creating = app.inject({ method: 'POST', url: '/api/v1/integrations/connections', headers: admin, payload: { venueId, provider: 'stripe', credentials: { apiKey: stripeKey('late') } } })
  // Delete once the create is held at Stripe: its venue check has passed, nothing is stored yet.
  const deadline = Date.now() + 10_000
  while ((await slowServed()) === before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  const deleted = await rig.deleteVenue(tenant, venueId)
  assert.deepEqual(deleted.disconnected, [], 'nothing stored yet for the deletion to disconnect')

  const created = await creating
  assert.equal(created.statusCode, 404, created.body)
  assert.equal(created.json().code, 'VENUE_NOT_FOUND')
  const rows = await rig.db.adminQuery<{ id: string; status: string; secrets: object }>('select id, status, secrets from integration.connections where venue_id = $1', [venueId])
  assert.equal(rows.length, 1, 'it was stored, then taken down')
  assert.deepEqual([rows[0]?.status, rows[0]?.secrets], ['disconnected', {}])
  assert.deepEqual(
    (await outboxFor(rows[0]!.id)).map((row) => [row.action, row.actor_id]),
    [
      ['connection.created', 'admin-1'],
      ['connection.disconnected', 'integration-service'],
    ],
  )
  const endpoints = JSON.stringify(await (await fetch(`${rig.simUrls.stripe}/_sim/webhooks`)).json())
  assert.ok(!endpoints.includes(rows[0]!.id), 'its webhook endpoint is removed at the provider')
})
