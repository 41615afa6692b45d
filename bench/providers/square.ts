// Square adapter throughput: a full customer listing through the real SDK against the simulator.
import { pathToFileURL } from 'node:url'
import type { AddressInfo } from 'node:net'
import { createSquareSimulator } from '../../packages/provider-simulators/src/square/index.ts'
import { createSquareAdapter } from '../../services/integration-service/src/providers/square/index.ts'

export interface ProviderBenchResult {
  provider: 'square'
  entity: 'customer'
  records: number
  seconds: number
  recordsPerSecond: number
}

export async function run(records = 10_000): Promise<ProviderBenchResult> {
  const sim = createSquareSimulator({ recordsPerEntity: 10 })
  await sim.listen({ port: 0, host: '127.0.0.1' })
  try {
    const baseUrl = `http://127.0.0.1:${(sim.server.address() as AddressInfo).port}`
    const token = `EAAA${'bench'.repeat(12)}`
    const lookup = await fetch(`${baseUrl}/_sim/accounts/lookup?credential=${token}`)
    const { accountId } = (await lookup.json()) as { accountId: string }
    await fetch(`${baseUrl}/_sim/accounts/${accountId}/seed`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ count: records, entity: 'customer' }),
    })

    const adapter = createSquareAdapter()
    const ctx = { credentials: { apiKey: token }, baseUrl }
    let listed = 0
    const started = performance.now()
    for await (const page of adapter.listChanges(ctx, 'customer', { mode: 'full', cursor: null, pageSize: 100 })) listed += page.records.length
    const seconds = (performance.now() - started) / 1000
    return { provider: 'square', entity: 'customer', records: listed, seconds, recordsPerSecond: listed / seconds }
  } finally {
    await sim.close()
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await run()
  console.log(`square ${result.entity}: ${result.records.toLocaleString('en-US')} records in ${result.seconds.toFixed(2)} s → ${Math.round(result.recordsPerSecond).toLocaleString('en-US')} records/s`)
}
