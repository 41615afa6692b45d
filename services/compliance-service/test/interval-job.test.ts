import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { createIntervalJob } from '../src/plugins/app/interval-job.ts'

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

test('a second runOnce while a pass is in flight joins it; the next one after it starts a new pass', async () => {
  let passes = 0
  let release = (): void => undefined
  const job = createIntervalJob<number, [label?: string]>({
    intervalMs: 60_000,
    pass: async () => {
      passes++
      await new Promise<void>((resolve) => (release = resolve))
      return passes
    },
    onError: () => undefined,
  })
  const first = job.runOnce('a')
  const second = job.runOnce()
  assert.equal(first, second)
  release()
  assert.equal(await first, 1)
  const third = job.runOnce()
  release()
  assert.equal(await third, 2)
  assert.equal(passes, 2)
})

test('started, it runs pass after pass, a failed pass is reported and the next still runs; stop waits for the pass in flight', async () => {
  const results: number[] = []
  const errors: string[] = []
  let passes = 0
  let finished = 0
  const job = createIntervalJob({
    intervalMs: 1,
    pass: async () => {
      passes++
      if (passes === 2) throw new Error('second pass fails')
      await sleep(20)
      finished++
      return passes
    },
    onPass: (result) => results.push(result),
    onError: (error) => errors.push((error as Error).message),
  })
  job.start()
  job.start()
  await until(() => results.length >= 2, 'two passes')
  await job.stop()
  assert.deepEqual(errors, ['second pass fails'])
  assert.equal(results[0], 1)
  assert.equal(results[1], 3)
  assert.equal(finished, passes - 1, 'every pass but the failed one finished before stop returned')
})
