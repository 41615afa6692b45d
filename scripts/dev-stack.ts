// Runs the whole hub locally: provider simulators, the three services and the gateway, each in its
// own process with its own database role, then prints the gateway URL and a demo token.
// Ctrl-C stops everything gracefully.
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadDotEnv, mintDevToken } from '@hub/service-kit'
import { DEFAULT_ADMIN_URL, migrateAll } from './migrate.ts'

const ROOT = join(import.meta.dirname, '..')
loadDotEnv(join(ROOT, '.env'))
const env = process.env
const adminUrl = env.DATABASE_ADMIN_URL ?? DEFAULT_ADMIN_URL

function roleUrl(role: string): string {
  const url = new URL(adminUrl)
  url.username = role
  url.password = env[`${role.toUpperCase()}_DB_PASSWORD`] ?? ''
  return url.toString()
}

console.log('▸ migrating')
await migrateAll(adminUrl)

const ports = { gateway: Number(env.API_GATEWAY_PORT ?? 3000), venue: Number(env.VENUE_SERVICE_PORT ?? 3002), integration: Number(env.INTEGRATION_SERVICE_PORT ?? 3009), compliance: Number(env.COMPLIANCE_SERVICE_PORT ?? 3010), worker: Number(env.INTEGRATION_WORKER_PORT ?? 3019) }
const sims = { stripe: 12111, square: 12112, mailchimp: 12113, quickbooks: 12114 }
const simulated = (env.PROVIDER_MODE ?? 'simulators') !== 'live'
const urls = {
  VENUE_SERVICE_URL: `http://127.0.0.1:${ports.venue}`,
  INTEGRATION_SERVICE_URL: `http://127.0.0.1:${ports.integration}`,
  COMPLIANCE_SERVICE_URL: `http://127.0.0.1:${ports.compliance}`,
}
const providerBases: Record<string, string> = simulated
  ? {
      STRIPE_API_BASE: `http://127.0.0.1:${sims.stripe}`,
      SQUARE_API_BASE: `http://127.0.0.1:${sims.square}`,
      MAILCHIMP_API_BASE: `http://127.0.0.1:${sims.mailchimp}`,
      QUICKBOOKS_API_BASE: `http://127.0.0.1:${sims.quickbooks}`,
      // OAuth apps as the simulators know them; real ones come from the environment.
      STRIPE_CONNECT_CLIENT_ID: env.STRIPE_CONNECT_CLIENT_ID ?? 'ca_devhubplatform0000000000000',
      STRIPE_PLATFORM_SECRET_KEY: env.STRIPE_PLATFORM_SECRET_KEY ?? 'sk_test_devhubplatform000000000000',
      SQUARE_CLIENT_ID: env.SQUARE_CLIENT_ID ?? 'sq0idp-devhub0000000000000000',
      SQUARE_CLIENT_SECRET: env.SQUARE_CLIENT_SECRET ?? 'sq0csp-devhubsecret0000000000',
      MAILCHIMP_CLIENT_ID: env.MAILCHIMP_CLIENT_ID ?? '100000000001',
      MAILCHIMP_CLIENT_SECRET: env.MAILCHIMP_CLIENT_SECRET ?? 'devhub-mailchimp-client-secret',
      QUICKBOOKS_CLIENT_ID: env.QUICKBOOKS_CLIENT_ID ?? 'ABdevhubquickbooksclient00',
      QUICKBOOKS_CLIENT_SECRET: env.QUICKBOOKS_CLIENT_SECRET ?? 'devhub-quickbooks-client-secret',
      QUICKBOOKS_WEBHOOK_VERIFIER: env.QUICKBOOKS_WEBHOOK_VERIFIER ?? 'devhub-quickbooks-verifier',
    }
  : {}

interface ProcessSpec {
  name: string
  script: string
  env: Record<string, string>
  readyUrl?: string
  /** Any HTTP answer means up (the simulators answer 401 without credentials). */
  anyStatus?: boolean
}

const specs: ProcessSpec[] = [
  ...(simulated ? [{ name: 'simulators', script: 'packages/provider-simulators/src/cli.ts', env: { SIM_PORTS: JSON.stringify(sims) }, readyUrl: `http://127.0.0.1:${sims.quickbooks}/`, anyStatus: true }] : []),
  { name: 'venue-service', script: 'services/venue-service/src/server.ts', env: { ...urls, DATABASE_URL: roleUrl('hub_venue'), VENUE_SERVICE_PORT: String(ports.venue) }, readyUrl: `${urls.VENUE_SERVICE_URL}/ready` },
  { name: 'integration-service', script: 'services/integration-service/src/server.ts', env: { ...urls, ...providerBases, PUBLIC_URL: `http://127.0.0.1:${ports.gateway}`, OPERATOR_TENANT_IDS: env.OPERATOR_TENANT_IDS ?? env.DEMO_TENANT_ID ?? '', DATABASE_URL: roleUrl('hub_integration'), INTEGRATION_SERVICE_PORT: String(ports.integration) }, readyUrl: `${urls.INTEGRATION_SERVICE_URL}/ready` },
  { name: 'integration-worker', script: 'services/integration-service/src/worker.ts', env: { ...urls, ...providerBases, PUBLIC_URL: `http://127.0.0.1:${ports.gateway}`, DATABASE_URL: roleUrl('hub_integration'), INTEGRATION_WORKER_PORT: String(ports.worker) }, readyUrl: `http://127.0.0.1:${ports.worker}/ready` },
  { name: 'compliance-service', script: 'services/compliance-service/src/server.ts', env: { ...urls, OPERATOR_TENANT_IDS: env.OPERATOR_TENANT_IDS ?? env.DEMO_TENANT_ID ?? '', DATABASE_URL: roleUrl('hub_compliance'), COMPLIANCE_SERVICE_PORT: String(ports.compliance) }, readyUrl: `${urls.COMPLIANCE_SERVICE_URL}/ready` },
  { name: 'api-gateway', script: 'services/api-gateway/src/server.ts', env: { ...urls, API_GATEWAY_PORT: String(ports.gateway) }, readyUrl: `http://127.0.0.1:${ports.gateway}/health` },
]

const COLORS = [35, 32, 33, 34, 36, 31]
const children = new Map<string, ChildProcess>()
let stopping = false

function prefixLines(name: string, color: number, stream: NodeJS.ReadableStream, out: NodeJS.WritableStream) {
  let buffered = ''
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop() ?? ''
    for (const line of lines) out.write(`\x1b[${color}m${name.padEnd(20)}\x1b[0m ${line}\n`)
  })
}

specs.forEach((spec, index) => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, spec.script)], { cwd: ROOT, env: { ...env, ...spec.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const color = COLORS[index % COLORS.length] ?? 37
  prefixLines(spec.name, color, child.stdout, process.stdout)
  prefixLines(spec.name, color, child.stderr, process.stderr)
  child.on('exit', (code, signal) => {
    children.delete(spec.name)
    if (!stopping) {
      console.error(`✖ ${spec.name} exited (${code ?? signal}); stopping the stack`)
      void stop(1)
    }
  })
  children.set(spec.name, child)
})

async function stop(code: number): Promise<never> {
  stopping = true
  for (const child of children.values()) child.kill('SIGTERM')
  const deadline = Date.now() + 15_000
  while (children.size > 0 && Date.now() < deadline) await sleep(100)
  for (const child of children.values()) child.kill('SIGKILL')
  process.exit(code)
}
process.on('SIGINT', () => void stop(0))
process.on('SIGTERM', () => void stop(0))

async function waitReady(spec: ProcessSpec): Promise<void> {
  if (!spec.readyUrl) return
  const deadline = Date.now() + 90_000
  while (Date.now() < deadline) {
    try {
      const response = await fetch(spec.readyUrl)
      if (response.ok || spec.anyStatus) return
    } catch {
      // not listening yet
    }
    await sleep(250)
  }
  console.error(`✖ ${spec.name} did not become ready at ${spec.readyUrl}`)
  await stop(1)
}

await Promise.all(specs.map(waitReady))
const tenantId = env.DEMO_TENANT_ID ?? '00000000-0000-4000-8000-000000000000'
const token = mintDevToken({ secret: env.JWT_SECRET ?? '', issuer: env.JWT_ISSUER ?? 'venue-hub-dev', audience: env.JWT_AUDIENCE ?? 'venue-hub', tenantId, roles: ['admin'], sub: 'demo-admin', expiresIn: 12 * 3600 })
const gateway = `http://127.0.0.1:${ports.gateway}`
console.log(`
\x1b[1mVenue Integration Hub is running\x1b[0m
  Gateway      ${gateway}
  API docs     ${gateway}/docs
  Health       ${gateway}/health
  Simulators   ${simulated ? Object.entries(sims).map(([name, port]) => `${name} :${port}`).join(', ') : 'off (PROVIDER_MODE=live)'}

  Demo tenant  ${tenantId}
  Demo token   (admin, valid 12 h)

export TOKEN=${token}

  Try:  curl -H "Authorization: Bearer $TOKEN" ${gateway}/api/v1/venues
  More tokens: npm run token -- --tenant ${tenantId} --role manager --venue <venue id>

Ctrl-C stops everything.
`)
