// `pnpm sims`: every provider simulator on its own port (SIM_PORTS='{"stripe":12111,...}').
import type { FastifyInstance } from 'fastify'
import { createStripeSimulator } from './stripe/index.ts'
import { createSquareSimulator } from './square/index.ts'
import { createMailchimpSimulator } from './mailchimp/index.ts'
import { createQuickBooksSimulator } from './quickbooks/index.ts'

const ports: Record<string, number> = { stripe: 12111, square: 12112, mailchimp: 12113, quickbooks: 12114, ...(process.env.SIM_PORTS ? JSON.parse(process.env.SIM_PORTS) : {}) }
const options = {
  seed: process.env.SIM_SEED ?? 'venue-hub',
  recordsPerEntity: Number(process.env.SIM_RECORDS ?? 300),
  enforceRateLimits: process.env.SIM_RATE_LIMITS === 'true',
  logger: false,
}
const host = process.env.SIM_HOST ?? '127.0.0.1'

const apps: Array<[string, FastifyInstance]> = [
  ['stripe', await createStripeSimulator(options)],
  ['square', await createSquareSimulator(options)],
  ['mailchimp', await createMailchimpSimulator(options)],
  ['quickbooks', await createQuickBooksSimulator(options)],
]

for (const [name, app] of apps) {
  const port = ports[name] ?? 0
  await app.listen({ port, host })
  console.log(`${name.padEnd(11)} simulator on http://${host}:${port}`)
}

const close = async () => {
  await Promise.all(apps.map(([, app]) => app.close()))
  process.exit(0)
}
process.on('SIGINT', () => void close())
process.on('SIGTERM', () => void close())
