// The provider side alone: a full listing of one Stripe account through the adapter (the SDK,
// mapping to canonical records), nothing written. Run as its own process by bench/sync, so it is
// measured as the worker would see it; prints one JSON line.
//
//   node --import tsx bench/sync/list-rate.ts <stripe base url> <api key>
import { createStripeAdapter } from '../../services/integration-service/src/providers/stripe/index.ts'

const [baseUrl, apiKey] = process.argv.slice(2)
if (!baseUrl || !apiKey) throw new Error('usage: list-rate.ts <stripe base url> <api key>')
const adapter = createStripeAdapter()
const started = performance.now()
let records = 0
for await (const page of adapter.listChanges({ baseUrl, credentials: { apiKey } }, 'customer', { mode: 'full', cursor: null })) records += page.records.length
console.log(JSON.stringify({ records, seconds: (performance.now() - started) / 1000 }))
