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
const files = matching(['packages', 'services'].flatMap((dir) => testFiles(join(ROOT, dir))))
// The system tests start the whole stack per file as real processes: one file at a time, after the
// rest, so two stacks never compete for the two cores they are budgeted on (README, Testing).
const e2eFiles = matching(testFiles(join(ROOT, 'e2e')))
if (files.length + e2eFiles.length === 0) fail('no test files found')

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
// The public contract: the merged OpenAPI document (built in-process from the three services, as
// the gateway merges it) must lint clean, and a bounded fuzz run over it must find no 5xx.
const contractStatus =
  filter.length > 0
    ? 0
    : run('OpenAPI lint (Spectral, Redocly)', ['scripts/contract/openapi-lint.ts'], 1) ||
      run('fuzz run over the OpenAPI document (bounded budget)', ['scripts/contract/fuzz.ts'], 1, { FUZZ_BUDGET: process.env.FUZZ_BUDGET ?? 'ci' })
process.exit(status || e2eStatus || contractStatus)
