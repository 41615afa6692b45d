// `npm start`: from a fresh clone to a running hub. Installs (pinned pnpm), writes a local .env with
// fresh development secrets on first run, type-checks, migrates, then runs the whole stack.
import { spawn } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, checkNode, checkServices, install, pnpm, step } from './bootstrap.mjs'

checkNode()
install()

const envPath = join(ROOT, '.env')
if (!existsSync(envPath)) {
  step('writing .env with fresh development secrets (git-ignored)')
  const secret = () => `dev-only-${randomBytes(24).toString('base64url')}`
  const keys = Object.fromEntries(['api-gateway', 'venue-service', 'integration-service', 'compliance-service'].map((service) => [service, { k1: secret() }]))
  writeFileSync(
    envPath,
    [
      `# Written by npm start on ${new Date().toISOString()} for local development only.`,
      '# Values in the environment override these. Production refuses the dev-only secrets.',
      'NODE_ENV=development',
      'LOG_LEVEL=warn',
      'DATABASE_ADMIN_URL=postgres://postgres@127.0.0.1:5432/venue_hub',
      'REDIS_URL=redis://127.0.0.1:6379',
      'REDIS_KEY_PREFIX=hub:',
      `JWT_SECRET=${secret()}`,
      'JWT_ISSUER=venue-hub-dev',
      'JWT_AUDIENCE=venue-hub',
      `INTERNAL_AUTH_KEYS=${JSON.stringify(keys)}`,
      `ENCRYPTION_KEYS=${JSON.stringify({ 1: randomBytes(32).toString('base64') })}`,
      `AUDIT_SIGNING_KEYS=${JSON.stringify({ 1: randomBytes(32).toString('base64') })}`,
      'PROVIDER_MODE=simulators',
      `DEMO_TENANT_ID=${randomUUID()}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  )
}
process.loadEnvFile(envPath)
await checkServices()

if (!process.argv.includes('--no-build')) {
  step('type-checking (pass --no-build to skip)')
  pnpm(['run', '--silent', 'typecheck'])
}

// The gateway serves the console from apps/console/dist; Vite names assets by content, so a
// rebuild never leaves a browser with a stale mix.
step('building the console (apps/console)')
pnpm(['--filter', '@hub/console', 'run', 'build'])

step('starting the stack')
const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'dev-stack.ts')], { cwd: ROOT, stdio: 'inherit' })
const forward = (signal) => child.kill(signal)
process.on('SIGINT', forward)
process.on('SIGTERM', forward)
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 0 : 1)))
