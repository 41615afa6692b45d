// bench/providers: records per second listed from each simulator through its adapter (and so
// through the official SDK), one provider after another.
import { run as stripe } from './stripe.ts'
import { run as square } from './square.ts'
import { run as mailchimp } from './mailchimp.ts'
import { run as quickbooks } from './quickbooks.ts'
import { fmt } from '../support.ts'

export async function run() {
  const results = []
  for (const bench of [stripe, square, mailchimp, quickbooks]) results.push(await bench())
  console.log('\nbench/providers — full listing through each adapter against its simulator')
  for (const r of results) console.log(`  ${r.provider.padEnd(11)} ${r.entity.padEnd(9)} ${fmt(r.records).padStart(7)} records in ${fmt(r.seconds, 2)} s = ${fmt(r.recordsPerSecond).padStart(7)} records/s`)
  return results
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
