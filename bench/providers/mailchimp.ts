// Contact listing throughput: the Mailchimp adapter walks 10,000 members (two audiences) through
// the official SDK against the local simulator. Figures only; nothing is asserted.
import { randomBytes } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { createMailchimpSimulator } from '../../packages/provider-simulators/src/mailchimp/index.ts'
import { createMailchimpAdapter } from '../../services/integration-service/src/providers/mailchimp/index.ts'

const RECORDS = Number(process.env.BENCH_RECORDS ?? 10_000)
const PAGE_SIZE = Number(process.env.BENCH_PAGE_SIZE ?? 1000)

export async function run(): Promise<{ provider: string; entity: string; records: number; seconds: number; recordsPerSecond: number }> {
  const sim = createMailchimpSimulator({ recordsPerEntity: RECORDS })
  const baseUrl = await sim.listen({ port: 0, host: '127.0.0.1' })
  try {
    const ctx = { baseUrl, credentials: { apiKey: `${randomBytes(16).toString('hex')}-us21` } }
    const adapter = createMailchimpAdapter()
    // The first call creates and seeds the account; keep that out of the measurement.
    await adapter.verifyCredentials(ctx)
    let records = 0
    const start = performance.now()
    for await (const page of adapter.listChanges(ctx, 'contact', { mode: 'full', cursor: null, pageSize: PAGE_SIZE })) records += page.records.length + page.deletedIds.length
    const seconds = (performance.now() - start) / 1000
    return { provider: 'mailchimp', entity: 'contact', records, seconds, recordsPerSecond: Math.round(records / seconds) }
  } finally {
    await sim.close()
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await run()
  console.log(`mailchimp contact: ${result.records} records in ${result.seconds.toFixed(2)} s = ${result.recordsPerSecond.toLocaleString('en-US')} records/s (page size ${PAGE_SIZE})`)
}
