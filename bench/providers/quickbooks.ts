// Lists every customer of a 10,000-customer QuickBooks company through the adapter and the
// simulator (full run, query pages of 999) and reports throughput. No assertions.
import { pathToFileURL } from 'node:url'
import { createQuickBooksSimulator } from '../../packages/provider-simulators/src/quickbooks/index.ts'
import { createQuickBooksAdapter } from '../../services/integration-service/src/providers/quickbooks/index.ts'

export interface BenchResult {
  provider: string
  entity: string
  records: number
  seconds: number
  recordsPerSecond: number
}

export async function run(options: { records?: number; pageSize?: number } = {}): Promise<BenchResult> {
  const records = options.records ?? 10_000
  const sim = createQuickBooksSimulator({ recordsPerEntity: 0 })
  const baseUrl = await sim.listen({ port: 0, host: '127.0.0.1' })
  try {
    const response = await fetch(`${baseUrl}/_sim/realms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ count: records, entities: ['Customer'] }),
    })
    const realm = (await response.json()) as { realmId: string; accessToken: string }
    const adapter = createQuickBooksAdapter()
    const ctx = { baseUrl, credentials: { accessToken: realm.accessToken, realmId: realm.realmId } }
    let listed = 0
    const started = performance.now()
    for await (const page of adapter.listChanges(ctx, 'customer', { mode: 'full', cursor: null, pageSize: options.pageSize ?? 999 })) {
      listed += page.records.length + page.deletedIds.length
    }
    const seconds = (performance.now() - started) / 1000
    return { provider: 'quickbooks', entity: 'customer', records: listed, seconds, recordsPerSecond: Math.round(listed / seconds) }
  } finally {
    await sim.close()
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await run()
  console.log(`${result.provider} ${result.entity}: ${result.records} records in ${result.seconds.toFixed(2)} s = ${result.recordsPerSecond} records/s`)
}
