// How runs fail: provider waits obeyed (and not paid for with attempts), auth failures stopping
// the run and marking the connection, outages retried then dead-lettered, the circuit breaker,
// an admin retrying a dead letter, and the shared request budget.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { TEST_REDIS_URL, eventually } from '@hub/service-kit/testing'
import { createRateLimiter, parseRateBudget } from '../../src/plugins/app/sync/rate-limiter.ts'
import { jitteredBackoff } from '../../src/plugins/app/sync/sync-queues.ts'
import { scrubSecrets } from '../../src/plugins/app/sync/sync-errors.ts'
import { setupSyncRig, sortedIds } from './sync-rig.ts'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const rig = await setupSyncRig({ sims: { stripe: { recordsPerEntity: 20 } } })

async function stripeConnection(app: Awaited<ReturnType<typeof rig.build>>, customers = 20) {
  const tenantId = randomUUID()
  const account = await rig.account('stripe')
  if (customers !== 20) await rig.control('stripe', 'POST', `/_sim/accounts/${account.accountId}/seed`, { entity: 'customer', count: customers })
  const connection = await rig.connect(app, { tenantId, provider: 'stripe', ...account })
  return { tenantId, account, connection }
}

async function syncCustomers(app: Awaited<ReturnType<typeof rig.build>>, c: Awaited<ReturnType<typeof stripeConnection>>, mode: 'full' | 'incremental' = 'full') {
  const { jobs } = await app.syncEngine.enqueueSync({ tenantId: c.tenantId, venueId: c.connection.venueId, connectionId: c.connection.id, entities: ['customer'], mode, trigger: 'manual', queue: 'high' })
  return jobs[0] as { jobId: string; syncLogId: string }
}

async function served(accountKind: string): Promise<Json[]> {
  return ((await rig.control('stripe', 'GET', '/_sim/faults/served')).served as Json[]).filter((fault) => fault.kind === accountKind)
}

describe('provider waits', () => {
  test('a 429 storm with Retry-After is obeyed: faults are served at least Retry-After apart, and no attempt is spent', async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}storm:` }, { worker: true })
    const c = await stripeConnection(app, 450)
    await rig.control('stripe', 'DELETE', '/_sim/faults')
    const before = (await served('rate_limit')).length
    await rig.control('stripe', 'POST', '/_sim/faults', { kind: 'rate_limit', times: 4, retryAfterSeconds: 1, account: c.account.accountId, pathIncludes: '/v1/customers' })
    const started = Date.now()
    const job = await syncCustomers(app, c)
    const log = await rig.waitForLog(job.syncLogId)
    assert.equal(log.status, 'succeeded', `${String(log.error_code)} ${String(log.error_message)}`)
    assert.equal(log.records_created, 450)

    const storm = (await served('rate_limit')).slice(before)
    assert.equal(storm.length, 4, 'every injected 429 was served')
    const gaps = storm.slice(1).map((fault, index) => (fault.at as number) - ((storm[index] as Json).at as number))
    for (const gap of gaps) assert.ok(gap >= 1_000, `429s served ${gap} ms apart: the hub waited the Retry-After (1 s)`)
    assert.ok(Date.now() - started >= 4_000, 'four waits of a second each')
    const view = await app.syncEngine.getJob(c.tenantId, job.jobId)
    assert.equal(view.state, 'completed')
    assert.equal(view.attemptsMade, 0, 'short provider waits are slept inside the job: no attempt spent')
  })

  test('a wait longer than the inline limit reschedules the job without spending an attempt', async () => {
    // One attempt only: if the wait cost an attempt, the job would fail.
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}defer:`, SYNC_MAX_INLINE_WAIT_MS: '100', SYNC_JOB_ATTEMPTS: '1' }, { worker: true })
    const c = await stripeConnection(app)
    await rig.control('stripe', 'POST', '/_sim/faults', { kind: 'rate_limit', times: 1, retryAfterSeconds: 2, account: c.account.accountId, pathIncludes: '/v1/customers' })
    const started = Date.now()
    const job = await syncCustomers(app, c)
    const log = await rig.waitForLog(job.syncLogId)
    assert.equal(log.status, 'succeeded', `${String(log.error_code)} ${String(log.error_message)}`)
    assert.ok(Date.now() - started >= 2_000, 'it waited the Retry-After before its next try')
    const view = await app.syncEngine.getJob(c.tenantId, job.jobId)
    assert.equal(view.state, 'completed')
    assert.equal(log.records_created, 20)
  })
})

describe('auth failures', () => {
  test('revoked credentials stop the run at once (no retries), fail its log and mark the connection needs_reauth', async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}auth:` }, { worker: true })
    const c = await stripeConnection(app)
    await rig.control('stripe', 'POST', '/_sim/credentials/revoke', { credential: c.account.secrets.apiKey })
    const job = await syncCustomers(app, c)
    const log = await rig.waitForLog(job.syncLogId)
    assert.equal(log.status, 'failed')
    assert.equal(log.error_code, 'PROVIDER_AUTH')
    assert.ok(!String(log.error_message).includes(c.account.secrets.apiKey as string), 'the key never reaches the sync log')
    const [connection] = await rig.db.adminQuery<Json>('select status, status_reason from integration.connections where id = $1', [c.connection.id])
    assert.equal(connection?.status, 'needs_reauth')
    await sleep(300)
    const view = await app.syncEngine.getJob(c.tenantId, job.jobId)
    assert.equal(view.state, 'failed')
    assert.equal(view.attemptsMade, 1, 'an auth failure is not retried')
    assert.equal((await app.syncEngine.listDeadLetters(c.tenantId)).items.length, 0, 'reconnecting is the fix, not a retry')
    await assert.rejects(
      app.syncEngine.enqueueSync({ tenantId: c.tenantId, venueId: c.connection.venueId, connectionId: c.connection.id, mode: 'full', trigger: 'manual', queue: 'high' }),
      (error: Json) => error.code === 'CONNECTION_NOT_ACTIVE' && error.statusCode === 409,
    )
  })
})

describe('outages, the circuit breaker and dead letters', () => {
  test('a job that exhausts its attempts is dead-lettered; the admin resets the breaker and retries it, and it succeeds', async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}dead:`, SYNC_JOB_ATTEMPTS: '3', SYNC_BREAKER_FAILURES: '2', SYNC_BREAKER_OPEN_MS: '60000' }, { worker: true })
    const c = await stripeConnection(app, 300)
    await rig.control('stripe', 'POST', '/_sim/faults', { kind: 'server_error', account: c.account.accountId, pathIncludes: '/v1/customers' })
    const job = await syncCustomers(app, c)
    const log = await rig.waitForLog(job.syncLogId, ['failed'], 30_000)
    assert.equal(log.status, 'failed')
    // The log turns failed before the dead letter is written (two transactions): wait for it.
    const { items } = await eventually(
      'the dead letter written',
      () => app.syncEngine.listDeadLetters(c.tenantId),
      (letters) => letters.items.length > 0,
    )
    assert.equal(items.length, 1)
    const letter = items[0] as Json
    assert.equal(letter.queue, 'integration-high')
    assert.equal(letter.attempts, 3)
    assert.deepEqual(letter.payload, { kind: 'sync', tenantId: c.tenantId, venueId: c.connection.venueId, connectionId: c.connection.id, provider: 'stripe', entity: 'customer', mode: 'full', trigger: 'manual', syncLogId: job.syncLogId })
    // Two outages opened the breaker; the third attempt never reached Stripe.
    assert.equal(letter.errorCode, 'CIRCUIT_OPEN')
    const outages = (await served('server_error')).filter((fault) => String(fault.path).includes('/v1/customers'))
    assert.ok(outages.length >= 2, 'two outages were served')
    const breakers = await app.syncEngine.breakerStates(c.tenantId)
    assert.deepEqual(
      breakers.map((breaker) => [breaker.connectionId, breaker.state]),
      [[c.connection.id, 'open']],
    )
    // Other tenants see no breaker of this one.
    assert.deepEqual(await app.syncEngine.breakerStates(randomUUID()), [])

    // The provider recovers; the admin closes the breaker and retries the dead letter.
    await rig.control('stripe', 'DELETE', '/_sim/faults')
    assert.deepEqual(await app.syncEngine.resetBreaker(c.connection.id), { connectionId: c.connection.id, reset: true })
    const actor = { tenantId: c.tenantId, actorType: 'user' as const, actorId: 'admin-1', requestId: 'req-1', ip: '127.0.0.1' }
    const retried = await app.syncEngine.retryDeadLetter(c.tenantId, letter.id as string, actor)
    assert.equal(retried.queue, 'integration-high')
    const done = await rig.waitForLog(job.syncLogId, ['succeeded', 'partial'], 30_000)
    assert.equal(done.status, 'succeeded')
    assert.equal(done.records_created, 300)
    assert.equal(done.error_code, null)
    const truth = (await rig.control('stripe', 'GET', `/_sim/accounts/${c.account.accountId}/customer`)).ids as string[]
    assert.deepEqual(await rig.liveIds(c.connection.id, 'customer'), sortedIds(truth))
    assert.equal((await app.syncEngine.listDeadLetters(c.tenantId)).items.length, 0, 'the letter is no longer open')
    const [row] = await rig.db.adminQuery<Json>('select retried_at from integration.dead_letters where id = $1', [letter.id])
    assert.ok(row?.retried_at, 'retried_at is set')
    const audit = await rig.db.adminQuery<Json>("select action, actor_id from integration.audit_outbox where entity_id = $1 and action = 'sync.dead_letter_retried'", [letter.id])
    assert.equal(audit.length, 1, 'the retry is audited')
    await assert.rejects(app.syncEngine.retryDeadLetter(c.tenantId, letter.id as string), (error: Json) => error.code === 'DEAD_LETTER_NOT_FOUND')
    await assert.rejects(app.syncEngine.retryDeadLetter(randomUUID(), letter.id as string), (error: Json) => error.code === 'DEAD_LETTER_NOT_FOUND')
  })

  test('a discarded dead letter is closed without running', async () => {
    const app = await rig.build({ REDIS_KEY_PREFIX: `${rig.prefix}discard:`, SYNC_JOB_ATTEMPTS: '1' }, { worker: true })
    const c = await stripeConnection(app)
    await rig.control('stripe', 'POST', '/_sim/faults', { kind: 'server_error', times: 1, account: c.account.accountId, pathIncludes: '/v1/customers' })
    const job = await syncCustomers(app, c)
    await rig.waitForLog(job.syncLogId, ['failed'])
    const [letter] = (
      await eventually(
        'the dead letter written',
        () => app.syncEngine.listDeadLetters(c.tenantId),
        (letters) => letters.items.length > 0,
      )
    ).items
    assert.equal(letter?.errorCode, 'PROVIDER_UNAVAILABLE')
    const discarded = await app.syncEngine.discardDeadLetter(c.tenantId, letter?.id as string)
    assert.ok(discarded.discardedAt)
    assert.equal((await app.syncEngine.listDeadLetters(c.tenantId)).items.length, 0)
  })
})

describe('the shared request budget', () => {
  test('two workers sharing a 20/s budget never exceed it in any second', async () => {
    const prefix = `${rig.prefix}budget:`
    const clients = [new Redis(TEST_REDIS_URL), new Redis(TEST_REDIS_URL)]
    try {
      const budgets = { stripe: parseRateBudget('20/1s'), square: parseRateBudget('20/1s'), mailchimp: parseRateBudget('10/1s'), quickbooks: parseRateBudget('500/1m') }
      const limiters = clients.map((redis) => createRateLimiter({ redis, prefix, budgets }))
      const grants: number[] = []
      const started = Date.now()
      await Promise.all(
        limiters.map(async (limiter) => {
          for (let i = 0; i < 25; i++) {
            const result = await limiter.acquire('stripe', 'acct_shared')
            assert.equal(result.status, 'granted')
            grants.push(Date.now())
          }
        }),
      )
      const elapsed = Date.now() - started
      assert.ok(elapsed >= 2_000, `50 requests at 20/s take over 2 s (${elapsed} ms)`)
      grants.sort((a, b) => a - b)
      for (let i = 0; i < grants.length; i++) {
        const inWindow = grants.filter((at) => at >= (grants[i] as number) && at < (grants[i] as number) + 1_000).length
        assert.ok(inWindow <= 20, `at most 20 grants in any second (${inWindow})`)
      }
      // A provider's "wait" blocks the account for everyone.
      await limiters[0]?.block('stripe', 'acct_blocked', 700)
      const blockedAt = Date.now()
      assert.equal((await limiters[1]?.acquire('stripe', 'acct_blocked'))?.status, 'granted')
      assert.ok(Date.now() - blockedAt >= 650, 'the other worker waited out the block')
      assert.deepEqual(await limiters[1]?.acquire('stripe', 'acct_other', 1, { maxWaitMs: 10 }), { status: 'granted' })
    } finally {
      for (const client of clients) client.disconnect()
    }
  })
})

describe('pure pieces', () => {
  test('jittered backoff: full jitter under an exponential ceiling, never under Retry-After, immediate hand-back', () => {
    const backoff = jitteredBackoff({ baseMs: 1_000, maxMs: 8_000 }, () => 0.999)
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((attempt) => backoff(attempt, new Error('x'))),
      [999, 1998, 3996, 7992, 7992, 7992],
    )
    const low = jitteredBackoff({ baseMs: 1_000, maxMs: 8_000 }, () => 0)
    assert.equal(low(3, new Error('x')), 1, 'full jitter can be (almost) no wait')
    assert.equal(low(1, Object.assign(new Error('429'), { retryAfterMs: 5_000 })), 5_000, 'at least the provider wait')
    assert.equal(low(1, Object.assign(new Error('stop'), { retryImmediately: true })), 0)
  })

  test('secrets are scrubbed from messages', () => {
    const message = scrubSecrets('Invalid API Key provided: sk_test_abcdefghijklmnop1234; token Bearer abc.def.ghi; key 0123456789abcdef0123456789abcdef-us21; EAAAabcdefghijklmnopqrstuvwxyz')
    for (const secret of ['sk_test_abcdefghijklmnop1234', 'abc.def.ghi', '0123456789abcdef0123456789abcdef-us21', 'EAAAabcdefghijklmnopqrstuvwxyz']) assert.ok(!message.includes(secret), `${secret} removed: ${message}`)
  })
})
