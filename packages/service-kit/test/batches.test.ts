import { test } from 'node:test'
import assert from 'node:assert/strict'
import { deleteInBatches } from '../src/batches.ts'

/** A table of `rows` rows that a batch deletes up to `limit` of, recording each batch's size. */
function fakeTable(rows: number) {
  let left = rows
  const asked: number[] = []
  return {
    asked,
    left: () => left,
    deleteBatch: async (limit: number) => {
      asked.push(limit)
      const removed = Math.min(limit, left)
      left -= removed
      return removed
    },
  }
}

test('deletes batch after batch until one comes back short, and reports each batch and the total', async () => {
  const table = fakeTable(2_500)
  const heard: number[] = []
  const total = await deleteInBatches(table.deleteBatch, { batchSize: 1_000, pauseMs: 0, onBatch: (removed) => heard.push(removed) })
  assert.equal(total, 2_500)
  assert.equal(table.left(), 0)
  assert.deepEqual(table.asked, [1_000, 1_000, 1_000])
  assert.deepEqual(heard, [1_000, 1_000, 500])
})

test('an exact multiple of the batch size ends on the empty batch that follows', async () => {
  const table = fakeTable(2_000)
  assert.equal(await deleteInBatches(table.deleteBatch, { batchSize: 1_000, pauseMs: 1 }), 2_000)
  assert.deepEqual(table.asked, [1_000, 1_000, 1_000])
})

test('nothing to delete is one empty batch and a total of 0', async () => {
  const table = fakeTable(0)
  assert.equal(await deleteInBatches(table.deleteBatch, { batchSize: 10, pauseMs: 0 }), 0)
  assert.deepEqual(table.asked, [10])
})
