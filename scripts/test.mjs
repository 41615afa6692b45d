// `npm test`: install if needed, type-check, lint, then every test file of every package and
// service against the real Postgres and Redis (each test file makes and drops its own database).
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
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', ...packages]]) {
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
// infra/test: the deployment artifacts (build, Compose, Kubernetes, Prometheus) and the compiled start path.
const files = ['packages', 'services', 'infra'].flatMap((dir) => testFiles(join(ROOT, dir))).filter((file) => filter.length === 0 || filter.some((f) => file.includes(f))).sort()
if (files.length === 0) fail('no test files found')
if (files.some((file) => file.startsWith('infra'))) ensureDebianTools()
step(`running ${files.length} test files`)
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=300000', '--test-force-exit', '--test-reporter=spec', ...files], {
  cwd: ROOT,
  stdio: 'inherit',
  env: { ...process.env, NODE_ENV: 'test' },
})
process.exit(result.status ?? 1)
