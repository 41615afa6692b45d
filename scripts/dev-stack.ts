// Runs the whole hub locally: provider simulators, the three services and the gateway, each in its
// own process with its own database role, then prints the gateway URL and a demo token.
// Ctrl-C stops everything gracefully.
import { join } from 'node:path'
import { loadDotEnv, mintDevToken } from '@hub/service-kit'
import { DEFAULT_ADMIN_URL, migrateAll } from './migrate.ts'
import { DEFAULT_PORTS, DEFAULT_SIMULATOR_PORTS, Stack, buildProcessSpecs, type StackConfig } from './stack/launcher.ts'

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

const ports = {
  gateway: Number(env.API_GATEWAY_PORT ?? DEFAULT_PORTS.gateway),
  venue: Number(env.VENUE_SERVICE_PORT ?? DEFAULT_PORTS.venue),
  integration: Number(env.INTEGRATION_SERVICE_PORT ?? DEFAULT_PORTS.integration),
  compliance: Number(env.COMPLIANCE_SERVICE_PORT ?? DEFAULT_PORTS.compliance),
  worker: Number(env.INTEGRATION_WORKER_PORT ?? DEFAULT_PORTS.worker),
}
const sims = DEFAULT_SIMULATOR_PORTS
const simulated = (env.PROVIDER_MODE ?? 'simulators') !== 'live'
const config: StackConfig = {
  ports,
  ...(simulated ? { simulators: sims } : {}),
  databaseUrlFor: roleUrl,
  env,
  operatorTenantIds: env.OPERATOR_TENANT_IDS ?? env.DEMO_TENANT_ID ?? '',
}

const stack = new Stack(buildProcessSpecs(config), env, {
  output: { kind: 'console' },
  onUnexpectedExit: (name, code, signal) => {
    console.error(`✖ ${name} exited (${code ?? signal}); stopping the stack`)
    void stop(1)
  },
})

async function stop(code: number): Promise<never> {
  await stack.stop()
  process.exit(code)
}
process.on('SIGINT', () => void stop(0))
process.on('SIGTERM', () => void stop(0))

try {
  await stack.start()
} catch (error) {
  console.error(`✖ ${(error as Error).message}`)
  await stop(1)
}
const tenantId = env.DEMO_TENANT_ID ?? '00000000-0000-4000-8000-000000000000'
const token = mintDevToken({ secret: env.JWT_SECRET ?? '', issuer: env.JWT_ISSUER ?? 'venue-hub-dev', audience: env.JWT_AUDIENCE ?? 'venue-hub', tenantId, roles: ['admin'], sub: 'demo-admin', expiresIn: 12 * 3600 })
const gateway = `http://127.0.0.1:${ports.gateway}`
console.log(`
\x1b[1mVenue Integration Hub is running\x1b[0m
  Gateway      ${gateway}
  Console      ${gateway}/  (development sign-in: pick a persona)
  API docs     ${gateway}/docs
  Health       ${gateway}/health
  Simulators   ${
    simulated
      ? Object.entries(sims)
          .map(([name, port]) => `${name} :${port}`)
          .join(', ')
      : 'off (PROVIDER_MODE=live)'
  }

  Demo tenant  ${tenantId}
  Demo token   (admin, valid 12 h)

export TOKEN=${token}

  Try:  curl -H "Authorization: Bearer $TOKEN" ${gateway}/api/v1/venues
  More tokens: npm run token -- --tenant ${tenantId} --role manager --venue <venue id>

Ctrl-C stops everything.
`)
