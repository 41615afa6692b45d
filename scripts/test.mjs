// `npm test`: install if needed, type-check, lint, then every test file of every package and
// service against the real Postgres and Redis (each test file makes and drops its own database).
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
const files = ['packages', 'services'].flatMap((dir) => testFiles(join(ROOT, dir))).filter((file) => filter.length === 0 || filter.some((f) => file.includes(f))).sort()
if (files.length === 0) fail('no test files found')
step(`running ${files.length} test files`)
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=300000', '--test-force-exit', '--test-reporter=spec', ...files], {
  cwd: ROOT,
  stdio: 'inherit',
  env: { ...process.env, NODE_ENV: 'test' },
})
if (result.status !== 0) process.exit(result.status ?? 1)

// The public contract: the merged OpenAPI document (built in-process from the three services, as
// the gateway merges it) must lint clean, and a bounded fuzz run over it must find no 5xx.
if (filter.length === 0) {
  for (const [title, file, env] of [
    ['linting the merged OpenAPI document (Spectral, Redocly)', 'scripts/contract/openapi-lint.ts', {}],
    ['fuzzing the API from its OpenAPI document (bounded budget)', 'scripts/contract/fuzz.ts', { FUZZ_BUDGET: process.env.FUZZ_BUDGET ?? 'ci' }],
  ]) {
    step(title)
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-force-exit', '--test-reporter=spec', file], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test', ...env } })
    if (run.status !== 0) process.exit(run.status ?? 1)
  }
}
