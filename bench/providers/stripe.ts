// Throughput of a full Stripe customer listing through the adapter (official SDK, 100 per page)
// against the local simulator. Prints records/s; no assertions.
import { pathToFileURL } from 'node:url'
import { createStripeSimulator } from '../../packages/provider-simulators/src/stripe/index.ts'
import { createStripeAdapter } from '../../services/integration-service/src/providers/stripe/index.ts'

export interface BenchResult {
  provider: string
  entity: string
  records: number
  seconds: number
  recordsPerSecond: number
}

export async function run(options: { records?: number } = {}): Promise<BenchResult> {
  const records = options.records ?? 10_000
  const sim = createStripeSimulator({ recordsPerEntity: records, seed: 'bench' })
  await sim.listen({ port: 0, host: '127.0.0.1' })
  try {
    const baseUrl = `http://127.0.0.1:${(sim.server.address() as { port: number }).port}`
    const apiKey = `sk_test_${'B'.repeat(24)}`
    // Opening the account seeds it; keep that out of the measurement.
    await fetch(`${baseUrl}/_sim/accounts/lookup?credential=${apiKey}`)
    const adapter = createStripeAdapter({ timeoutMs: 30_000 })
    const ctx = { baseUrl, credentials: { apiKey } }
    let count = 0
    const started = performance.now()
    for await (const page of adapter.listChanges(ctx, 'customer', { mode: 'full', cursor: null, pageSize: 100 })) count += page.records.length
    const seconds = (performance.now() - started) / 1000
    return { provider: 'stripe', entity: 'customer', records: count, seconds, recordsPerSecond: Math.round(count / seconds) }
  } finally {
    await sim.close()
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await run()
  console.log(`stripe ${result.entity}: ${result.records} records in ${result.seconds.toFixed(2)} s = ${result.recordsPerSecond} records/s`)
}
