// The intake's hand-over to the queue: while Redis is down a hand-over waits for it, and what is
// stored meanwhile must not pile up in the API process's memory without end. Past the bound the
// events are left to the worker's relay, which finds them in the inbox.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import { createWebhookDispatch } from '../../src/plugins/app/webhooks/webhook-dispatch.ts'
import type { StoredWebhook } from '../../src/plugins/app/webhooks/webhook-intake.ts'

test('events stored while a hand-over hangs wait up to the bound; the rest are left to the relay, and the hand-over resumes', async () => {
  const warnings: unknown[] = []
  const logger = { warn: (details: unknown) => warnings.push(details), info: () => undefined } as unknown as FastifyBaseLogger
  let release: () => void = () => undefined
  const redisBack = new Promise<void>((resolve) => {
    release = resolve
  })
  const handed: string[] = []
  const dispatch = createWebhookDispatch({
    enqueueMany: async (items) => {
      await redisBack
      handed.push(...items.map((item) => item.inboxId))
    },
    logger,
    maxPending: 1_000,
  })
  const event = (n: number) => ({ inboxId: `in-${n}`, tenantId: 't', connectionId: 'c' }) satisfies StoredWebhook
  const first = dispatch([event(0)])
  for (let n = 1; n <= 3_000; n++) void dispatch([event(n)])
  await sleep(20)
  assert.ok(warnings.length > 0, 'the overflow is logged')
  release()
  await first
  await sleep(50)
  // The first batch (event 0, taken before the hang) and the next 1,000; the other 2,000 stay in the inbox for the relay.
  assert.equal(handed.length, 1_001)
  assert.deepEqual(handed.slice(0, 3), ['in-0', 'in-1', 'in-2'])
  // Once it is back, new events are handed over again.
  await dispatch([event(9_999)])
  assert.equal(handed.at(-1), 'in-9999')
})
