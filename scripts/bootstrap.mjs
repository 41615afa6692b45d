// Gets a fresh machine from "Node is installed" to "dependencies are installed", using only Node:
// pnpm is fetched at the version pinned in package.json through npx (corepack's signature check
// is not usable everywhere), and `pnpm install` runs when the lockfile changed since last time.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
export const PNPM_VERSION = pkg.packageManager.replace(/^pnpm@/, '').split('+')[0]

export function step(message) {
  console.log(`\x1b[36m▸\x1b[0m ${message}`)
}

export function fail(message) {
  console.error(`\x1b[31m✖ ${message}\x1b[0m`)
  process.exit(1)
}

export function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number)
  if (major < 20 || (major === 20 && minor < 18)) fail(`Node ${process.versions.node} is too old: the hub needs Node 20.18 or newer.`)
}

/** Runs pnpm (pinned version) with inherited stdio; exits on failure. */
export function pnpm(args, options = {}) {
  const result = spawnSync('npx', ['--yes', `pnpm@${PNPM_VERSION}`, ...args], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, COREPACK_ENABLE_STRICT: '0' }, ...options })
  if (result.status !== 0) fail(`pnpm ${args.join(' ')} failed (exit ${result.status ?? result.signal}).`)
}

export function install() {
  const marker = join(ROOT, 'node_modules', '.hub-installed')
  const lockfile = join(ROOT, 'pnpm-lock.yaml')
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lockfile).mtimeMs && readFileSync(marker, 'utf8') === PNPM_VERSION) {
    step('dependencies are up to date')
    return
  }
  step(`installing dependencies with pnpm ${PNPM_VERSION}`)
  pnpm(['install', '--frozen-lockfile'])
  writeFileSync(marker, PNPM_VERSION)
}

export function reachable(host, port, timeoutMs = 2_000) {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port })
    const done = (ok) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/** Says clearly what is missing and how to start it, instead of a stack trace later. */
export async function checkServices(env = process.env) {
  const pg = new URL(env.DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres')
  const redis = new URL(env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  const missing = []
  if (!(await reachable(pg.hostname, Number(pg.port || 5432)))) missing.push(`Postgres at ${pg.hostname}:${pg.port || 5432}`)
  if (!(await reachable(redis.hostname, Number(redis.port || 6379)))) missing.push(`Redis at ${redis.hostname}:${redis.port || 6379}`)
  if (missing.length > 0) {
    fail(
      `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not reachable.\n` +
        '  Start them with Docker:   docker compose up -d postgres redis\n' +
        '  or as local services:     pg_ctlcluster <version> main start   /   redis-server --daemonize yes\n' +
        '  or point DATABASE_ADMIN_URL / REDIS_URL at running ones.',
    )
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  checkNode()
  install()
}
