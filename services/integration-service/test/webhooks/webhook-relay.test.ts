// The inbox relay runs one pass at a time: while Redis is down a queue add waits for it, and a pass
// started on every tick meanwhile would each hold a batch of rows and all resume at once.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import type { Knex } from 'knex'
import { startWebhookRelay } from '../../src/plugins/app/webhooks/webhook-relay.ts'

const silent = { info: () => undefined, warn: () => undefined } as unknown as FastifyBaseLogger

test('a pass whose queue add hangs (Redis down) is not joined by another until it ends', async () => {
  let lists = 0
  let release: () => void = () => undefined
  const hanging = new Promise<void>((resolve) => {
    release = resolve
  })
  const enqueued: string[] = []
  const relay = startWebhookRelay({
    db: { withSystemScope: <T>(fn: (trx: Knex.Transaction) => Promise<T>) => fn({} as Knex.Transaction) } as never,
    inbox: {
      listUnenqueued: async () => {
        lists++
        return [{ id: `row-${lists}`, tenant_id: 't', connection_id: 'c' }]
      },
      listStale: async () => [],
      markRequeued: async () => undefined,
    },
    enqueue: async (item) => {
      enqueued.push(item.inboxId)
      await hanging
    },
    requeue: async () => undefined,
    intervalMs: 20,
    staleAfterMs: 1_000,
    logger: silent,
  })
  try {
    await sleep(300)
    assert.equal(lists, 1, 'one pass while the add hangs, not one per tick')
    release()
    await sleep(100)
    assert.ok(lists >= 2, 'passes resume once it ends')
    assert.deepEqual(enqueued.slice(0, 2), ['row-1', 'row-2'])
  } finally {
    relay.stop()
  }
})
