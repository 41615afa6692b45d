// Losing Redis and losing a worker, on the real processes: every key of the hub's Redis prefix
// deleted in the middle of several syncs (as a Redis restarted without persistence leaves it), and
// a worker killed with SIGKILL while another one stands by. Postgres is the truth: every run ends
// exactly once without anyone asking again, the schedules come back, and a killed worker's run is
// resumed within 10 s. The same holds for acknowledged webhooks that were only queued when Redis
// went, and for a reconciliation run in progress.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { deleteRedisPrefix } from '@hub/service-kit/testing'
import { apiClient } from './support/hub.ts'
import { eventually, scenario, startStack, type Json } from './support/stack.ts'

const stack = await startStack({
  env: {
    // Slow enough to be caught in the middle: 10 pages of 100 a second per Stripe account.
    SYNC_RATE_LIMIT_STRIPE: '10/1s',
    SYNC_CONCURRENCY_HIGH: '2',
    // The production default is a minute; the scenario does not wait that long.
    SYNC_RECONCILE_INTERVAL_MS: '2000',
    // The production default is ten minutes: an event handed to the queue that long ago and still
    // not processed is handed over again.
    SYNC_WEBHOOK_REQUEUE_AFTER_MS: '3000',
  },
})

/** The typed client, every answer checked against the document. */
const api = apiClient(stack, stack.adminToken)

async function stripeConnection(customers: number): Promise<{ venueId: string; connectionId: string }> {
  const venue = await api.POST('/api/v1/venues', { body: { name: `E2E Reliability ${randomBytes(3).toString('hex')}`, timezone: 'Europe/London', currency: 'GBP' } })
  assert.equal(venue.response.status, 201, JSON.stringify(venue.error))
  const venueId = venue.data!.id
  const apiKey = `sk_test_${randomBytes(18).toString('hex')}`
  const { accountId } = await stack.sim('stripe', 'GET', `/_sim/accounts/lookup?credential=${apiKey}`)
  await stack.sim('stripe', 'POST', `/_sim/accounts/${String(accountId)}/seed`, { entity: 'customer', count: customers })
  const connection = await api.POST('/api/v1/integrations/connections', { body: { venueId, provider: 'stripe', credentials: { apiKey } } })
  assert.equal(connection.response.status, 201, JSON.stringify(connection.error))
  return { venueId, connectionId: connection.data!.id }
}

async function requestSync(venueId: string): Promise<string> {
  const { data, error, response } = await api.POST('/api/v1/integrations/sync/{provider}/sync', { params: { path: { provider: 'stripe' } }, body: { venueId, entities: ['customer'], mode: 'full' } })
  assert.equal(response.status, 202, JSON.stringify(error))
  return data!.jobs[0]!.syncLogId
}

async function syncLog(id: string): Promise<Json> {
  const [row] = await stack.db.adminQuery<Json>('select status, error_code, error_message, records_fetched, records_created from integration.sync_logs where id = $1', [id])
  assert.ok(row, `sync log ${id}`)
  return row
}

async function scheduledRuns(): Promise<number> {
  const { data, error, response } = await api.GET('/api/v1/integrations/admin/queue-counts')
  assert.equal(response.status, 200, JSON.stringify(error))
  // Each schedule keeps its next run delayed in the normal queue.
  return data!.queues.find((queue) => queue.key === 'normal')?.delayed ?? 0
}

async function assertExactlyOnce(connectionId: string, syncLogId: string, total: number): Promise<void> {
  const log = await syncLog(syncLogId)
  assert.deepEqual([log.status, log.error_code, log.records_fetched, log.records_created], ['succeeded', null, total, total], String(log.error_message))
  const [stats] = await stack.db.adminQuery<{ total: string; distinct_ids: string }>("select count(*) as total, count(distinct external_id) as distinct_ids from integration.records where connection_id = $1 and entity = 'customer'", [
    connectionId,
  ])
  assert.deepEqual(stats, { total: String(total), distinct_ids: String(total) })
  const runs = await stack.db.adminQuery<{ id: string }>("select id from integration.sync_logs where connection_id = $1 and kind = 'pull' and trigger <> 'scheduled'", [connectionId])
  assert.deepEqual(
    runs.map((row) => row.id),
    [syncLogId],
    'one run for the one request',
  )
}

describe('reliability across processes', () => {
  scenario(
    'Redis emptied mid-sync: every run completes exactly once without a user request, and the schedules are back',
    async () => {
      const TOTAL = 3_000
      const connections: Array<{ venueId: string; connectionId: string }> = []
      for (let i = 0; i < 4; i++) connections.push(await stripeConnection(TOTAL))
      // Connecting schedules each connection (hourly, the default setting).
      const schedulesBefore = await eventually('the schedules of the new connections', 20_000, async () => {
        const count = await scheduledRuns()
        return count >= connections.length ? count : undefined
      })
      const runs: string[] = []
      for (const connection of connections) runs.push(await requestSync(connection.venueId))
      await eventually('two runs in the middle', 60_000, async () => {
        const logs = await Promise.all(runs.map(syncLog))
        return logs.filter((log) => log.status === 'running' && (log.records_fetched as number) >= 300).length >= 2 ? true : undefined
      })

      await deleteRedisPrefix(stack.redisPrefix)
      assert.ok(
        (await Promise.all(runs.map(syncLog))).some((log) => log.status === 'queued'),
        'some runs were still waiting',
      )

      for (const id of runs) {
        await eventually(
          `run ${id} to finish`,
          120_000,
          async () => {
            const log = await syncLog(id)
            return ['succeeded', 'partial', 'failed', 'cancelled'].includes(log.status as string) ? log : undefined
          },
          250,
        )
      }
      for (const [i, connection] of connections.entries()) await assertExactlyOnce(connection.connectionId, runs[i] as string, TOTAL)
      assert.ok((await scheduledRuns()) >= schedulesBefore, 'the schedules are back')
    },
    { timeout: 300_000 },
  )

  scenario(
    'a SIGKILLed worker: a standby worker resumes its run within 10 s, exactly once',
    async () => {
      const TOTAL = 30_000
      const connection = await stripeConnection(TOTAL)
      const syncLogId = await requestSync(connection.venueId)
      await eventually('the run to get going', 60_000, async () => ((await syncLog(syncLogId)).records_fetched >= 300 ? true : undefined))
      // The standby comes up while the stack's own worker holds the run.
      const standby = await stack.startExtraWorker()
      try {
        const before = await syncLog(syncLogId)
        assert.ok(before.status === 'running' && (before.records_fetched as number) < TOTAL, `still in the middle (${String(before.status)}, ${String(before.records_fetched)})`)
        await stack.kill('integration-worker')
        const killedAt = Date.now()
        const atKill = (await syncLog(syncLogId)).records_fetched as number
        let resumedAfterMs = 0
        for (;;) {
          if (((await syncLog(syncLogId)).records_fetched as number) > atKill) {
            resumedAfterMs = Date.now() - killedAt
            break
          }
          assert.ok(Date.now() - killedAt < 30_000, 'the run was resumed')
          await sleep(100)
        }
        assert.ok(resumedAfterMs < 10_000, `resumed ${resumedAfterMs} ms after the kill`)
        await eventually('the run to finish', 120_000, async () => ((await syncLog(syncLogId)).status === 'running' || (await syncLog(syncLogId)).status === 'queued' ? undefined : true), 250)
        await assertExactlyOnce(connection.connectionId, syncLogId, TOTAL)
      } finally {
        await standby.stop(10_000)
        await stack.restart('integration-worker')
      }
    },
    { timeout: 300_000 },
  )

  scenario(
    'webhooks acknowledged while no worker runs, then Redis emptied: a worker that comes back processes each event exactly once',
    async () => {
      const EVENTS = 5
      const { connectionId } = await stripeConnection(EVENTS)
      const [{ accountId }] = (await stack.db.adminQuery<{ accountId: string }>('select account_id as "accountId" from integration.connections where id = $1', [connectionId])) as [{ accountId: string }]
      const ids = (await stack.sim('stripe', 'GET', `/_sim/accounts/${accountId}/customer`)).ids as string[]
      assert.equal(ids.length, EVENTS)

      await stack.kill('integration-worker')
      try {
        for (const [i, id] of ids.entries()) {
          await stack.sim('stripe', 'PATCH', `/_sim/accounts/${accountId}/customer/${id}`, { name: `Requeued Patron${i}` })
          const fired = await stack.sim('stripe', 'POST', '/_sim/webhooks/fire', { accountId, type: 'customer.updated', objectId: id })
          assert.equal((fired.deliveries as Json[])[0]?.status, 200, JSON.stringify(fired.deliveries))
        }
        // Acknowledged means stored; the API process also handed each event to the queue.
        await eventually('every event handed to the queue', 20_000, async () => {
          const [row] = await stack.db.adminQuery<{ queued: string }>('select count(*) as queued from integration.webhook_inbox where connection_id = $1 and enqueued_at is not null and processed_at is null', [connectionId])
          return Number(row?.queued) === EVENTS ? true : undefined
        })
        await deleteRedisPrefix(stack.redisPrefix)
      } finally {
        await stack.restart('integration-worker')
      }

      const processed = await eventually(
        'every event processed',
        60_000,
        async () => {
          const rows = await stack.db.adminQuery<{ processed: boolean }>('select processed_at is not null as processed from integration.webhook_inbox where connection_id = $1', [connectionId])
          return rows.length === EVENTS && rows.every((row) => row.processed) ? rows : undefined
        },
        250,
      )
      assert.equal(processed.length, EVENTS)
      // Later passes of the relay must not hand a processed event over again.
      await sleep(5_000)
      const runs = await stack.db.adminQuery<{ status: string }>("select status from integration.sync_logs where connection_id = $1 and trigger = 'webhook'", [connectionId])
      assert.equal(runs.length, EVENTS, `one run per event: ${JSON.stringify(runs)}`)
      assert.ok(
        runs.every((run) => run.status === 'succeeded'),
        JSON.stringify(runs),
      )
      const names = await stack.db.adminQuery<{ external_id: string; family: string }>("select external_id, data->>'familyName' as family from integration.records where connection_id = $1 and entity = 'customer'", [connectionId])
      assert.deepEqual(Object.fromEntries(names.map((row) => [row.external_id, row.family])), Object.fromEntries(ids.map((id, i) => [id, `Patron${i}`])), 'each event applied')
    },
    { timeout: 300_000 },
  )

  scenario(
    'Redis emptied in the middle of a reconciliation run: the run is resumed and ends once, every difference counted once',
    async () => {
      const TOTAL = 20_000
      const { venueId, connectionId } = await stripeConnection(TOTAL)
      const { data, error, response } = await api.POST('/api/v1/integrations/reconciliation/runs', { body: { venueId, provider: 'stripe', entities: ['customer'] } })
      assert.equal(response.status, 202, JSON.stringify(error))
      const runId = data!.runs[0]!.id
      const reconciliationRun = async (): Promise<Json> => {
        const [row] = await stack.db.adminQuery<Json>('select status, pages, provider_count, missing_in_hub, error_code from integration.reconciliation_runs where id = $1', [runId])
        assert.ok(row, `reconciliation run ${runId}`)
        return row
      }
      await eventually('the run in the middle', 60_000, async () => {
        const run = await reconciliationRun()
        return run.status === 'running' && (run.pages as number) >= 3 ? true : undefined
      })

      await deleteRedisPrefix(stack.redisPrefix)
      assert.equal((await reconciliationRun()).status, 'running', 'not finished before Redis went')

      const run = await eventually(
        'the run to finish',
        120_000,
        async () => {
          const current = await reconciliationRun()
          return ['clean', 'drift', 'failed'].includes(current.status as string) ? current : undefined
        },
        250,
      )
      // Nothing was synced, so every customer at the provider is missing in the hub.
      assert.deepEqual([run.status, run.error_code, run.provider_count, run.missing_in_hub], ['drift', null, TOTAL, TOTAL], JSON.stringify(run))
      const [items] = await stack.db.adminQuery<{ count: string }>('select count(*) from integration.reconciliation_items where run_id = $1', [runId])
      assert.equal(items?.count, String(TOTAL))
      const runs = await stack.db.adminQuery<{ id: string }>('select id from integration.reconciliation_runs where connection_id = $1', [connectionId])
      assert.deepEqual(
        runs.map((row) => row.id),
        [runId],
        'one run for the one request',
      )
    },
    { timeout: 300_000 },
  )
})
