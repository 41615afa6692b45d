// A large delete as many short ones: each batch its own transaction, with a pause between full
// batches, so live reads and writes share the table with the purge (retention in
// integration-service and compliance-service).
import { setTimeout as sleep } from 'node:timers/promises'

export interface DeleteInBatchesOptions {
  batchSize: number
  /** Pause after each full batch; 0 runs them back to back. */
  pauseMs: number
  /** Hears each batch's count as it lands (a metric), not only the total at the end. */
  onBatch?: (removed: number) => void
}

/** Calls `deleteBatch(batchSize)` until a batch comes back short; returns how many were removed in all. */
export async function deleteInBatches(deleteBatch: (limit: number) => Promise<number>, options: DeleteInBatchesOptions): Promise<number> {
  let total = 0
  for (;;) {
    const removed = await deleteBatch(options.batchSize)
    total += removed
    options.onBatch?.(removed)
    if (removed < options.batchSize) return total
    if (options.pauseMs > 0) await sleep(options.pauseMs)
  }
}
