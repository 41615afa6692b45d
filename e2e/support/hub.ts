// What the scenarios do through the gateway, as a user of the API would: venues, Stripe
// connections on the simulator, syncs, records, sync logs and the audit log. Every call goes
// through @hub/api-client, the typed client the console uses, generated from the merged OpenAPI
// document, and every response is checked against the document the running gateway serves at
// /openapi.json (status, media type, body schema): a scenario fails where the API and its
// document disagree.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createApiClient, type ApiClient, type paths } from '@hub/api-client'
import { conformance, type Conformance, type OpenApiDocument } from '@hub/api-client/conformance'
import { eventually, type E2EStack, type Json } from './stack.ts'

/** The entities the document names (the helpers take strings, as the scenarios were written). */
type Entity = NonNullable<NonNullable<paths['/api/v1/integrations/records']['get']['parameters']['query']>['entity']>

export const TERMINAL_SYNC_STATUSES = ['succeeded', 'partial', 'failed', 'cancelled']

const SERVICE_PREFIXES = ['/api/v1/venues', '/api/v1/integrations/', '/api/v1/compliance/']

/**
 * The OpenAPI document the stack's gateway serves. The gateway merges what each service answers
 * within 2 s and refreshes a minute later: on a loaded box its first document can lack a slow
 * service, so this waits for one that has all three.
 */
export function servedDocument(stack: E2EStack): Promise<OpenApiDocument> {
  return eventually(
    'the gateway serves a document of all three services',
    180_000,
    async () => {
      const response = await fetch(`${stack.gateway}/openapi.json`, { signal: AbortSignal.timeout(30_000) })
      if (response.status !== 200) return undefined
      const document = (await response.json()) as OpenApiDocument
      return SERVICE_PREFIXES.every((prefix) => Object.keys(document.paths).some((path) => path.startsWith(prefix))) ? document : undefined
    },
    1_000,
  )
}

/** One checker per stack: the document is fetched once and its validators compiled once. */
const checkers = new WeakMap<E2EStack, Conformance>()

function checkerFor(stack: E2EStack): Conformance {
  let checker = checkers.get(stack)
  if (!checker) {
    checker = conformance(() => servedDocument(stack))
    checkers.set(stack, checker)
  }
  return checker
}

/** A typed client of the stack's gateway as `token`'s holder, checking every response against the document. */
export function apiClient(stack: E2EStack, token: string): ApiClient {
  return createApiClient(stack.gateway, token, {
    fetch: (request) => fetch(request, { signal: AbortSignal.timeout(30_000) }),
    middleware: [checkerFor(stack).middleware],
  })
}

type Outcome = { data?: unknown; error?: unknown; response: Response }

/** The body of an answer whose status is one of `expected`, or a failure naming what came back. */
async function expectStatus(pending: Promise<Outcome>, what: string, expected: number[]): Promise<Json> {
  const { data, error, response } = await pending
  assert.ok(expected.includes(response.status), `${what}: ${response.status} ${JSON.stringify(error ?? data)}`)
  return (data ?? error ?? {}) as Json
}

export function hub(stack: E2EStack) {
  const api = apiClient(stack, stack.adminToken)

  /** Any documented operation by method and concrete path (query included), as the admin. */
  async function ok(method: string, path: string, body?: unknown, expected: number[] = [200, 201, 202, 204]): Promise<Json> {
    const lower = method.toLowerCase() as 'get'
    return expectStatus(api.request(lower, path as never, (body === undefined ? {} : { body }) as never), `${method} ${path}`, expected)
  }

  return {
    /** The admin's typed client (checked against the document). */
    api,
    /** A typed client as someone else (checked against the document). */
    as: (token: string) => apiClient(stack, token),
    ok,
    async createVenue(name: string): Promise<string> {
      const venue = await expectStatus(api.POST('/api/v1/venues', { body: { name, timezone: 'Europe/London', currency: 'GBP' } }), 'create venue', [201])
      return venue.id as string
    },
    /** A Stripe connection on a fresh simulator account (opened by the well-formed key). */
    async connectStripe(venueId: string): Promise<{ connectionId: string; accountId: string; apiKey: string }> {
      const apiKey = `sk_test_e2e${randomBytes(12).toString('hex')}`
      const { accountId } = await stack.sim('stripe', 'GET', `/_sim/accounts/lookup?credential=${apiKey}`)
      const connection = await expectStatus(api.POST('/api/v1/integrations/connections', { body: { venueId, provider: 'stripe', credentials: { apiKey } } }), 'connect stripe', [201])
      assert.equal(connection.status, 'active', JSON.stringify(connection))
      return { connectionId: connection.id as string, accountId: accountId as string, apiKey }
    },
    /** A Square connection with a personal access token (opens its own simulator account). */
    async connectSquare(venueId: string): Promise<{ connectionId: string; accountId: string }> {
      const token = `EAAA${randomBytes(30).toString('hex')}`
      const { accountId } = await stack.sim('square', 'GET', `/_sim/accounts/lookup?credential=${token}`)
      const connection = await expectStatus(api.POST('/api/v1/integrations/connections', { body: { venueId, provider: 'square', credentials: { apiKey: token } } }), 'connect square', [201])
      assert.equal(connection.status, 'active', JSON.stringify(connection))
      return { connectionId: connection.id as string, accountId: accountId as string }
    },
    /** Webhook registrations the provider holds for an account (Stripe endpoints, Square subscriptions). */
    async webhooksAt(provider: 'stripe' | 'square', accountId: string): Promise<Json[]> {
      const state = await stack.sim(provider, 'GET', '/_sim/webhooks')
      return ((provider === 'stripe' ? state.endpoints : state.subscriptions) as Json[]).filter((registration) => registration.accountId === accountId)
    },
    async startSync(venueId: string, entities: string[], mode: 'full' | 'incremental' = 'full'): Promise<{ jobId: string; syncLogId: string }> {
      const enqueued = await expectStatus(api.POST('/api/v1/integrations/sync/{provider}/sync', { params: { path: { provider: 'stripe' } }, body: { venueId, entities: entities as Entity[], mode } }), 'start sync', [202])
      const job = (enqueued.jobs as Json[])[0] as Json
      return { jobId: job.jobId as string, syncLogId: job.syncLogId as string }
    },
    async syncLogs(connectionId: string): Promise<Json[]> {
      return (await expectStatus(api.GET('/api/v1/integrations/sync-logs', { params: { query: { connectionId, limit: 200 } } }), 'sync logs', [200])).data as Json[]
    },
    async syncLog(connectionId: string, syncLogId: string): Promise<Json | undefined> {
      return (await this.syncLogs(connectionId)).find((log) => log.id === syncLogId)
    },
    /** Waits for the run to end and returns its sync log. */
    async finishedSync(connectionId: string, syncLogId: string, timeoutMs: number): Promise<Json> {
      return eventually(
        `sync ${syncLogId} finished`,
        timeoutMs,
        async () => {
          const log = await this.syncLog(connectionId, syncLogId)
          return log && TERMINAL_SYNC_STATUSES.includes(log.status as string) ? log : undefined
        },
        250,
      )
    },
    /** Every record of the venue for one entity, read through the changed-since feed. */
    async records(venueId: string, entity: string): Promise<Json[]> {
      const all: Json[] = []
      let cursor: string | undefined
      for (;;) {
        const page = await expectStatus(api.GET('/api/v1/integrations/records', { params: { query: { venueId, provider: 'stripe', entity: entity as Entity, limit: 1000, ...(cursor ? { cursor } : {}) } } }), 'records', [200])
        all.push(...(page.data as Json[]))
        // Every list answers {data, nextCursor}; null on the last page.
        if (page.nextCursor === null) return all
        cursor = page.nextCursor as string
      }
    },
    async auditTrail(entityId: string): Promise<Json[]> {
      return (await expectStatus(api.GET('/api/v1/compliance/audit-log', { params: { query: { entityId, limit: 500 } } }), 'audit trail', [200])).data as Json[]
    },
    async complianceSyncLogs(venueId: string): Promise<Json[]> {
      return (await expectStatus(api.GET('/api/v1/compliance/venues/{venueId}/sync-logs', { params: { path: { venueId }, query: { limit: 500 } } }), 'compliance sync logs', [200])).data as Json[]
    },
  }
}
