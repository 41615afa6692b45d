// Every security-relevant refusal, at any of the four services, reaches compliance-service and is
// listed by GET /compliance/security-events within seconds — also after the stack sat idle (the
// reporter once delivered its first events after start and then nothing, silently).
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe } from 'node:test'
import { apiClient } from './support/hub.ts'
import { eventually, scenario, startStack, type Json } from './support/stack.ts'

/** What the README promises, with room for a busy two-core box. */
const DEADLINE_MS = 5_000
/**
 * The "a stack left idle for two minutes": every reporter and relay ticks with nothing to
 * do many times over, and the folding window (60 s) of the first refusals has closed.
 */
const IDLE_MS = 120_000

const stack = await startStack()
/** Typed clients of the gateway as `token`'s holder; every answer is checked against the document. */
const as = (token: string) => apiClient(stack, token)
const BAD_TOKEN = 'not.a.jwt'

/** Refuses one request at each service, each by its own new user, and returns those users. */
async function refuseEverywhere(): Promise<Record<'gateway' | 'venue' | 'integration' | 'compliance', string>> {
  const run = randomUUID().slice(0, 8)
  const actors = { gateway: `e2e-prober-${run}`, venue: `e2e-viewer-v-${run}`, integration: `e2e-viewer-i-${run}`, compliance: `e2e-viewer-c-${run}` }
  const viewer = (sub: string) => stack.token({ roles: ['viewer'], sub })

  // The gateway: a signed-in user probing /internal (404, never proxied; not in the document, so a raw call).
  const probe = await stack.api('GET', '/api/v1/internal/sync-logs', { token: viewer(actors.gateway) })
  assert.equal(probe.status, 404, JSON.stringify(probe.body))
  // venue-service: a viewer creating a venue.
  const venue = await as(viewer(actors.venue)).POST('/api/v1/venues', { body: { name: 'Nope', timezone: 'Europe/London', currency: 'GBP' } })
  assert.equal(venue.response.status, 403, JSON.stringify(venue.error))
  // integration-service: a viewer connecting a provider.
  const connection = await as(viewer(actors.integration)).POST('/api/v1/integrations/connections', { body: { venueId: randomUUID(), provider: 'stripe', credentials: { apiKey: 'sk_test_e2esecurity0000000000001' } } })
  assert.equal(connection.response.status, 403, JSON.stringify(connection.error))
  // compliance-service: a viewer reading the security events.
  const listing = await as(viewer(actors.compliance)).GET('/api/v1/compliance/security-events')
  assert.equal(listing.response.status, 403, JSON.stringify(listing.error))
  return actors
}

async function listed(query: { scope?: 'system' } = {}): Promise<Json[]> {
  const { data, error, response } = await as(stack.adminToken).GET('/api/v1/compliance/security-events', { params: { query: { limit: 500, ...query } } })
  assert.equal(response.status, 200, JSON.stringify(error))
  return data?.data as Json[]
}

/** Waits until the tenant admin's list holds one event per service for these actors. */
async function allListed(actors: Record<string, string>): Promise<Json[]> {
  const expected: [string, string, string][] = [
    ['api-gateway', 'INTERNAL_ROUTE_PROBE', actors.gateway ?? ''],
    ['venue-service', 'INSUFFICIENT_ROLE', actors.venue ?? ''],
    ['integration-service', 'INSUFFICIENT_ROLE', actors.integration ?? ''],
    ['compliance-service', 'INSUFFICIENT_ROLE', actors.compliance ?? ''],
  ]
  return eventually(`a refusal of each service listed within ${DEADLINE_MS} ms`, DEADLINE_MS, async () => {
    const events = await listed()
    const found = expected.map(([source, code, actor]) => events.filter((e) => e.source === source && e.code === code && e.actor === actor))
    if (found.some((matches) => matches.length === 0)) return undefined
    for (const matches of found) assert.equal(matches.length, 1, `one event per refusal: ${JSON.stringify(matches)}`)
    return found.flat()
  })
}

/** The gateway's anonymous refusals (no tenant) as the operator sees them. */
async function anonymousBadTokens(): Promise<number> {
  const events = await listed({ scope: 'system' })
  return events.filter((e) => e.source === 'api-gateway' && e.code === 'AUTH_TOKEN_INVALID').reduce((sum, e) => sum + (e.count as number), 0)
}

describe('security events across processes', () => {
  scenario(
    'a refusal at each of the four services is listed within 5 s, and again after two minutes of idleness',
    async () => {
      const first = await allListed(await refuseEverywhere())
      for (const event of first) assert.equal(event.tenantId, stack.tenantId, 'a refusal of a signed-in user is its tenant event')

      const badToken = await as(BAD_TOKEN).GET('/api/v1/venues')
      assert.equal(badToken.response.status, 401)
      await eventually('the anonymous refusal listed for the operator', DEADLINE_MS, async () => ((await anonymousBadTokens()) >= 1 ? true : undefined))

      // Nothing happens for a while: every timer ticks with nothing to send.
      await sleep(IDLE_MS)

      await allListed(await refuseEverywhere())
      const before = await anonymousBadTokens()
      await as(BAD_TOKEN).GET('/api/v1/venues')
      await eventually('the second anonymous refusal counted', DEADLINE_MS, async () => ((await anonymousBadTokens()) === before + 1 ? true : undefined))
    },
    { timeout: IDLE_MS + 120_000 },
  )

  scenario('a flood of 200 bad tokens at the gateway is stored as a handful of events counting 200', async () => {
    const rows = async () => (await listed({ scope: 'system' })).filter((e) => e.source === 'api-gateway' && e.code === 'AUTH_TOKEN_INVALID')
    const before = await anonymousBadTokens()
    const rowsBefore = (await rows()).length
    for (let i = 0; i < 200; i++) {
      const res = await as(BAD_TOKEN).GET('/api/v1/venues')
      assert.equal(res.response.status, 401)
    }
    await eventually('the flood counted', DEADLINE_MS, async () => ((await anonymousBadTokens()) === before + 200 ? true : undefined))
    const added = (await rows()).length - rowsBefore
    assert.ok(added <= 2, `the flood adds at most a window's event or two, not a row per request (${added})`)
  })

  scenario('refusals while compliance-service is down are listed exactly once after it comes back', async () => {
    await stack.kill('compliance-service')
    const run = randomUUID().slice(0, 8)
    const prober = `e2e-down-prober-${run}`
    const viewer = `e2e-down-viewer-${run}`
    assert.equal((await stack.api('GET', '/api/v1/internal/x', { token: stack.token({ roles: ['viewer'], sub: prober }) })).status, 404)
    const refused = await as(stack.token({ roles: ['viewer'], sub: viewer })).POST('/api/v1/venues', { body: { name: 'Nope', timezone: 'Europe/London', currency: 'GBP' } })
    assert.equal(refused.response.status, 403)
    // Held durably meanwhile: in venue-service's outbox (and the gateway's Redis stream).
    await eventually('the venue refusal waiting in the outbox', DEADLINE_MS, async () => {
      const rows = await stack.db.adminQuery<{ n: number }>("select count(*)::int as n from venue.security_event_outbox where delivered_at is null and event->>'actor' = $1", [viewer])
      return rows[0]?.n === 1 ? true : undefined
    })
    await stack.restart('compliance-service')
    const events = await eventually('both refusals listed after the restart', DEADLINE_MS * 2, async () => {
      const mine = (await listed()).filter((e) => e.actor === prober || e.actor === viewer)
      return mine.length >= 2 ? mine : undefined
    })
    assert.deepEqual(
      events.map((e) => [e.source, e.code, e.count]).sort(),
      [
        ['api-gateway', 'INTERNAL_ROUTE_PROBE', 1],
        ['venue-service', 'INSUFFICIENT_ROLE', 1],
      ],
      'each stored once, counted once',
    )
  })
})
