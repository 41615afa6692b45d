// `npm test`: install if needed, type-check, lint, then every test file of every package and
// service against the real Postgres and Redis (each test file makes and drops its own database),
// then the system tests in e2e/ (the whole stack as real processes).
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { ROOT, checkNode, checkServices, fail, install, pnpm, step } from './bootstrap.mjs'

checkNode()
if (!process.argv.includes('--no-install')) install()
await checkServices({ DATABASE_ADMIN_URL: process.env.TEST_DATABASE_ADMIN_URL, REDIS_URL: process.env.TEST_REDIS_URL })

// Tools the deployment tests run (infra/test): installed from Debian when missing and we are root
// (CI is), otherwise a clear failure. Never a silent skip.
const DEBIAN_TOOLS = [
  ['promtool', 'prometheus'],
  ['amtool', 'prometheus-alertmanager'],
]
function ensureDebianTools() {
  const missing = DEBIAN_TOOLS.filter(([binary]) => spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status !== 0)
  if (missing.length === 0) return
  const packages = missing.map(([, pkg]) => pkg)
  if (process.getuid?.() !== 0) fail(`${missing.map(([b]) => b).join(', ')} not found. Install them first: sudo apt-get install --no-install-recommends ${packages.join(' ')}`)
  step(`installing ${packages.join(', ')} (apt-get)`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', '--no-install-recommends', ...packages],
  ]) {
    const result = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env })
    if (result.status !== 0) fail(`apt-get ${args.join(' ')} failed (exit ${result.status ?? result.signal})`)
  }
}

step('type-checking')
pnpm(['run', '--silent', 'typecheck'])
step('linting')
pnpm(['run', '--silent', 'lint'])

function testFiles(dir) {
  const out = []
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules') continue
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) out.push(...testFiles(path))
    else if (entry.endsWith('.test.ts')) out.push(relative(ROOT, path))
  }
  return out
}

const filter = process.argv.slice(2).filter((arg) => !arg.startsWith('--'))
const matching = (files) => files.filter((file) => filter.length === 0 || filter.some((f) => file.includes(f))).sort()
// infra/test: the deployment artifacts (build, Compose, Kubernetes, Prometheus) and the compiled start path.
const files = matching(['packages', 'services', 'infra'].flatMap((dir) => testFiles(join(ROOT, dir))))
// The system tests start the whole stack per file as real processes: one file at a time, after the
// rest, so two stacks never compete for the two cores they are budgeted on (README, Testing).
const e2eFiles = matching(testFiles(join(ROOT, 'e2e')))
if (files.length + e2eFiles.length === 0) fail('no test files found')
if (files.some((file) => file.startsWith('infra'))) ensureDebianTools()

function run(label, list, concurrency, env = {}) {
  if (list.length === 0) return 0
  step(`running ${list.length} ${label}`)
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', '--test-force-exit', '--test-reporter=spec', ...list], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, NODE_ENV: 'test', ...env },
  })
  return result.status ?? 1
}

const status = run('test files', files, 2)
const e2eStatus = run('system test files (e2e/)', e2eFiles, 1)
// The public contract: the merged OpenAPI document (built in-process, as the gateway serves it) must
// lint clean, and a bounded fuzz run through the gateway of a real stack (its own processes, so
// after the e2e files, never beside them) must find no 5xx.
const contractStatus =
  filter.length > 0
    ? 0
    : run('OpenAPI lint (Spectral, Redocly)', ['scripts/contract/openapi-lint.ts'], 1) || run('fuzz run over the OpenAPI document (bounded budget)', ['scripts/contract/fuzz.ts'], 1, { FUZZ_BUDGET: process.env.FUZZ_BUDGET ?? 'ci' })
process.exit(status || e2eStatus || contractStatus)
