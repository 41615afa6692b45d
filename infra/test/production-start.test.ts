// The production start path, tested as the Dockerfile builds it: `scripts/build.mjs --no-link` into
// a fresh folder, `pnpm install --prod --frozen-lockfile` there (no devDependencies: no tsx, no
// TypeScript), then plain `node`: the compiled migration command and every process's /health,
// /live and /ready.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ensureDatabase, dropDatabase } from '@hub/service-kit'
import { TEST_ADMIN_URL, deleteRedisPrefix, freePort, testRedisPrefix, testServiceEnv } from '@hub/service-kit/testing'

const ROOT = join(import.meta.dirname, '..', '..')
const DIST = mkdtempSync(join(tmpdir(), 'hub-dist-'))
const PNPM_VERSION = '9.15.4'

function withDatabase(url: string, database: string, user?: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  if (user) parsed.username = user
  return parsed.toString()
}

interface Running {
  name: string
  child: ChildProcess
  output: string[]
}

function start(name: string, script: string, env: Record<string, string>): Running {
  const output: string[] = []
  // A clean environment: nothing of the test runner's (tsx loader, NODE_OPTIONS) leaks into the process.
  const child = spawn(process.execPath, ['--enable-source-maps', join(DIST, script)], { cwd: DIST, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
  return { name, child, output }
}

async function stop(running: Running): Promise<number | null> {
  if (running.child.exitCode !== null) return running.child.exitCode
  const exited = new Promise<number | null>((resolve) => running.child.once('exit', (code) => resolve(code)))
  running.child.kill('SIGTERM')
  const timer = setTimeout(() => running.child.kill('SIGKILL'), 60_000)
  const code = await exited
  clearTimeout(timer)
  return code
}

/** Polls `url` until it answers `status`, or fails with the process's output after the deadline. */
// Generous: five Node processes loading the provider SDKs at once on two busy cores take a while.
async function waitFor(url: string, status: number, running: Running, deadlineMs = 180_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + deadlineMs
  let last = 'no answer'
  while (Date.now() < deadline) {
    if (running.child.exitCode !== null) assert.fail(`${running.name} exited with ${running.child.exitCode}:\n${running.output.join('')}`)
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) })
      const body = (await response.json()) as Record<string, unknown>
      if (response.status === status) return body
      last = `${response.status} ${JSON.stringify(body)}`
    } catch (error) {
      last = (error as Error).message
    }
    await sleep(200)
  }
  return assert.fail(`${running.name}: ${url} did not answer ${status} within ${deadlineMs} ms (last: ${last}):\n${running.output.join('')}`)
}

test('the compiled services start with plain node, refuse readiness before migrations, and stop cleanly', { timeout: 600_000 }, async (t) => {
  t.after(() => rmSync(DIST, { recursive: true, force: true }))
  const build = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), `--out=${DIST}`, '--no-link'], { cwd: ROOT, encoding: 'utf8' })
  assert.equal(build.status, 0, `npm run build failed:\n${build.stdout}${build.stderr}`)
  for (const entry of ['services/venue-service/src/server.js', 'services/integration-service/src/worker.js', 'services/venue-service/migrations', 'scripts/migrate.js']) {
    assert.ok(existsSync(join(DIST, entry)), `dist/${entry} is missing`)
  }
  // The Dockerfile's production-only install, from the store `npm test` has just filled.
  const install = spawnSync('npx', ['--yes', `pnpm@${PNPM_VERSION}`, 'install', '--frozen-lockfile', '--prod', '--offline'], { cwd: DIST, encoding: 'utf8', env: { ...process.env, CI: 'true' } })
  assert.equal(install.status, 0, `pnpm install --prod failed:\n${install.stdout}${install.stderr}`)
  assert.ok(!existsSync(join(DIST, 'node_modules', 'tsx')) && !existsSync(join(DIST, 'node_modules', 'typescript')), 'devDependencies were installed')

  const database = `hub_test_prod_${process.pid}_${Date.now().toString(36)}`
  await ensureDatabase(TEST_ADMIN_URL, database)
  const prefix = testRedisPrefix()
  const running: Running[] = []
  t.after(async () => {
    for (const proc of running) await stop(proc)
    await dropDatabase(TEST_ADMIN_URL, database)
    await deleteRedisPrefix(prefix)
  })

  const [venuePort, integrationPort, workerPort, compliancePort, gatewayPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()])
  const base = { ...testServiceEnv(prefix), NODE_ENV: 'production', LOG_LEVEL: 'info', JWT_JWKS_URL: 'https://auth.example.test/.well-known/jwks.json', HOST: '127.0.0.1', METRICS_PORT: '0' }
  // Production refuses a shared JWT secret; JWKS is fetched lazily, so /health and /ready do not need it.
  delete (base as Record<string, string>).JWT_SECRET
  const urls = {
    VENUE_SERVICE_URL: `http://127.0.0.1:${venuePort}`,
    INTEGRATION_SERVICE_URL: `http://127.0.0.1:${integrationPort}`,
    COMPLIANCE_SERVICE_URL: `http://127.0.0.1:${compliancePort}`,
  }
  const db = (role: string) => withDatabase(TEST_ADMIN_URL, database, role)

  // Before the migration Job: the role exists (another test database may have created it) but the
  // schema does not, so the pod must stay out of the load balancer.
  await ensureRolesForTest()
  const venue = start('venue-service', 'services/venue-service/src/server.js', { ...base, ...urls, DATABASE_URL: db('hub_venue'), VENUE_SERVICE_PORT: String(venuePort) })
  running.push(venue)
  await waitFor(`${urls.VENUE_SERVICE_URL}/health`, 200, venue)
  const unready = await waitFor(`${urls.VENUE_SERVICE_URL}/ready`, 503, venue)
  assert.equal((unready.checks as Record<string, { status: string }>).migrations?.status, 'down', JSON.stringify(unready))

  const migrate = spawnSync(process.execPath, [join(DIST, 'scripts', 'migrate.js')], { cwd: DIST, env: { PATH: process.env.PATH ?? '', DATABASE_ADMIN_URL: withDatabase(TEST_ADMIN_URL, database) }, encoding: 'utf8' })
  assert.equal(migrate.status, 0, `compiled migrate failed:\n${migrate.stdout}${migrate.stderr}`)
  assert.match(migrate.stdout, /venue: applied/)
  await waitFor(`${urls.VENUE_SERVICE_URL}/ready`, 200, venue)

  const encryption = { ENCRYPTION_KEYS: JSON.stringify({ 1: Buffer.alloc(32, 7).toString('base64') }), OPERATOR_TENANT_IDS: '00000000-0000-4000-8000-000000000001', QUICKBOOKS_WEBHOOK_VERIFIER: 'production-start-test-verifier-0001' }
  const others = [
    start('integration-service', 'services/integration-service/src/server.js', { ...base, ...urls, ...encryption, DATABASE_URL: db('hub_integration'), INTEGRATION_SERVICE_PORT: String(integrationPort) }),
    start('integration-worker', 'services/integration-service/src/worker.js', { ...base, ...urls, ...encryption, DATABASE_URL: db('hub_integration'), INTEGRATION_WORKER_PORT: String(workerPort) }),
    start('compliance-service', 'services/compliance-service/src/server.js', {
      ...base,
      ...urls,
      DATABASE_URL: db('hub_compliance'),
      COMPLIANCE_SERVICE_PORT: String(compliancePort),
      SYNC_LOG_CONSUMER: 'false',
      AUDIT_SIGNING_KEYS: JSON.stringify({ 1: Buffer.alloc(32, 9).toString('base64') }),
    }),
    start('api-gateway', 'services/api-gateway/src/server.js', { ...base, ...urls, API_GATEWAY_PORT: String(gatewayPort), TRUST_PROXY: 'loopback' }),
  ]
  running.push(...others)
  const ports: Record<string, number> = { 'integration-service': integrationPort, 'integration-worker': workerPort, 'compliance-service': compliancePort, 'api-gateway': gatewayPort }
  for (const proc of others) {
    const url = `http://127.0.0.1:${ports[proc.name]}`
    await waitFor(`${url}/health`, 200, proc)
    await waitFor(`${url}/live`, 200, proc)
    await waitFor(`${url}/ready`, 200, proc)
  }

  // SIGTERM (what Kubernetes and Compose send) ends every process with exit code 0.
  for (const proc of [...running].reverse()) assert.equal(await stop(proc), 0, `${proc.name} did not stop cleanly:\n${proc.output.join('')}`)
})

/** The service roles are cluster-wide; make sure hub_venue exists so the failure is the schema, not the login. */
async function ensureRolesForTest(): Promise<void> {
  const { createKnex, ensureRoles } = await import('@hub/service-kit')
  const admin = createKnex(TEST_ADMIN_URL, { poolMax: 1 })
  try {
    await ensureRoles(admin, ['hub_venue'])
  } finally {
    await admin.destroy()
  }
}
