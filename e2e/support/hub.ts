// What the scenarios do through the gateway, as a user of the API would: venues, Stripe
// connections on the simulator, syncs, records, sync logs and the audit log.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { eventually, type E2EStack, type Json } from './stack.ts'

export const TERMINAL_SYNC_STATUSES = ['succeeded', 'partial', 'failed', 'cancelled']

export function hub(stack: E2EStack) {
  async function ok(method: string, path: string, body?: unknown, expected: number[] = [200, 201, 202, 204]): Promise<Json> {
    const response = await stack.api(method, path, body === undefined ? {} : { body })
    assert.ok(expected.includes(response.status), `${method} ${path}: ${response.status} ${JSON.stringify(response.body)}`)
    return response.body
  }

  return {
    ok,
    async createVenue(name: string): Promise<string> {
      return (await ok('POST', '/api/v1/venues', { name, timezone: 'Europe/London', currency: 'GBP' }, [201])).id as string
    },
    /** A Stripe connection on a fresh simulator account (opened by the well-formed key). */
    async connectStripe(venueId: string): Promise<{ connectionId: string; accountId: string; apiKey: string }> {
      const apiKey = `sk_test_e2e${randomBytes(12).toString('hex')}`
      const { accountId } = await stack.sim('stripe', 'GET', `/_sim/accounts/lookup?credential=${apiKey}`)
      const connection = await ok('POST', '/api/v1/integrations/connections', { venueId, provider: 'stripe', credentials: { apiKey } }, [201])
      assert.equal(connection.status, 'active', JSON.stringify(connection))
      return { connectionId: connection.id as string, accountId: accountId as string, apiKey }
    },
    /** A Square connection with a personal access token (opens its own simulator account). */
    async connectSquare(venueId: string): Promise<{ connectionId: string; accountId: string }> {
      const token = `EAAA${randomBytes(30).toString('hex')}`
      const { accountId } = await stack.sim('square', 'GET', `/_sim/accounts/lookup?credential=${token}`)
      const connection = await ok('POST', '/api/v1/integrations/connections', { venueId, provider: 'square', credentials: { apiKey: token } }, [201])
      assert.equal(connection.status, 'active', JSON.stringify(connection))
      return { connectionId: connection.id as string, accountId: accountId as string }
    },
    /** Webhook registrations the provider holds for an account (Stripe endpoints, Square subscriptions). */
    async webhooksAt(provider: 'stripe' | 'square', accountId: string): Promise<Json[]> {
      const state = await stack.sim(provider, 'GET', '/_sim/webhooks')
      return ((provider === 'stripe' ? state.endpoints : state.subscriptions) as Json[]).filter((registration) => registration.accountId === accountId)
    },
    async startSync(venueId: string, entities: string[], mode: 'full' | 'incremental' = 'full'): Promise<{ jobId: string; syncLogId: string }> {
      const enqueued = await ok('POST', '/api/v1/integrations/sync/stripe/sync', { venueId, entities, mode }, [202])
      const job = (enqueued.jobs as Json[])[0] as Json
      return { jobId: job.jobId as string, syncLogId: job.syncLogId as string }
    },
    async syncLogs(connectionId: string): Promise<Json[]> {
      return (await ok('GET', `/api/v1/integrations/sync-logs?connectionId=${connectionId}&limit=200`)).data as Json[]
    },
    async syncLog(connectionId: string, syncLogId: string): Promise<Json | undefined> {
      return (await this.syncLogs(connectionId)).find((log) => log.id === syncLogId)
    },
    /** Waits for the run to end and returns its sync log. */
    async finishedSync(connectionId: string, syncLogId: string, timeoutMs: number): Promise<Json> {
      return eventually(`sync ${syncLogId} finished`, timeoutMs, async () => {
        const log = await this.syncLog(connectionId, syncLogId)
        return log && TERMINAL_SYNC_STATUSES.includes(log.status as string) ? log : undefined
      }, 250)
    },
    /** Every record of the venue for one entity, read through the changed-since feed. */
    async records(venueId: string, entity: string): Promise<Json[]> {
      const all: Json[] = []
      let cursor: string | undefined
      for (;;) {
        const page = await ok('GET', `/api/v1/integrations/records?venueId=${venueId}&provider=stripe&entity=${entity}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
        all.push(...(page.data as Json[]))
        // Every list answers {data, nextCursor}; null on the last page.
        if (page.nextCursor === null) return all
        cursor = page.nextCursor as string
      }
    },
    async auditTrail(entityId: string): Promise<Json[]> {
      return (await ok('GET', `/api/v1/compliance/audit-log?entityId=${entityId}&limit=500`)).data as Json[]
    },
    async complianceSyncLogs(venueId: string): Promise<Json[]> {
      return (await ok('GET', `/api/v1/compliance/venues/${venueId}/sync-logs?limit=500`)).data as Json[]
    },
  }
}
