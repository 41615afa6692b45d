// Shared by the benchmarks: spawn a service as its own process (as in production) and wait for it.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pool } from 'undici'
import type autocannon from 'autocannon'
import { generateKeyRingJson } from '@hub/crypto'
import { TEST_INTERNAL_KEYS, TEST_JWT, TEST_REDIS_URL } from '@hub/service-kit/testing'
import { WORKER_NODE_ARGS } from '../scripts/stack/launcher.ts'

// One implementation of finding a free port, shared with the tests.
export { freePort } from '@hub/service-kit/testing'

export const ROOT = join(import.meta.dirname, '..')

/**
 * What every benchmarked process shares: its own Redis prefix, a shared-secret JWT (test mode:
 * production would rightly refuse one; the code measured is the same) and an internal key per service.
 */
export function benchEnv(): Record<string, string> {
  const keys = Object.fromEntries(['api-gateway', 'venue-service', 'integration-service', 'compliance-service'].map((service) => [service, { k1: `bench-${service}-${randomUUID()}` }]))
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    REDIS_URL: 'redis://127.0.0.1:6379',
    REDIS_KEY_PREFIX: `hubbench:${randomUUID().slice(0, 8)}:`,
    JWT_SECRET: `bench-secret-${randomUUID()}`,
    JWT_ISSUER: 'bench',
    JWT_AUDIENCE: 'venue-hub',
    INTERNAL_AUTH_KEYS: JSON.stringify(keys),
  }
}

/** What benchEnv() gives, with the kit's test JWT and internal keys instead: for a bench that mints its tokens with `testToken`. */
export function testIdentityEnv(prefix: string): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    JWT_SECRET: TEST_JWT.secret,
    JWT_ISSUER: TEST_JWT.issuer,
    JWT_AUDIENCE: TEST_JWT.audience,
    INTERNAL_AUTH_KEYS: JSON.stringify(TEST_INTERNAL_KEYS),
  }
}

/**
 * integration-service's process environment in a bench, on top of `common` (benchEnv() or
 * testIdentityEnv()): its database, no compliance- or venue-service (their URLs lead nowhere) and
 * metrics on a free port. The key ring is made here once: the API process and the workers it
 * spawns must share it, so pass them the same object. `extra` is the bench's own settings.
 */
export function integrationEnv(common: Record<string, string>, databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...common,
    METRICS_PORT: '0',
    DATABASE_URL: databaseUrl,
    ENCRYPTION_KEYS: generateKeyRingJson([1]),
    COMPLIANCE_SERVICE_URL: 'http://127.0.0.1:9',
    VENUE_SERVICE_URL: 'http://127.0.0.1:9',
    ...extra,
  }
}

/** Runs `script` of this checkout, or of `root` (another checkout, installed: a baseline to compare against). */
export function startService(script: string, env: Record<string, string>, nodeArgs: string[] = [], node = process.execPath, root = ROOT): ChildProcess {
  const child = spawn(node, [...nodeArgs, '--import', 'tsx', join(root, script)], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] })
  return child
}

/**
 * The integration-worker as deployed: its heap limit (WORKER_NODE_ARGS), then `nodeArgs`.
 * BENCH_WORKER_NODE_ARGS (space-separated, may be empty) replaces the deployed flags, to compare.
 */
export function spawnWorker(env: Record<string, string>, nodeArgs: string[] = []): ChildProcess {
  const override = process.env.BENCH_WORKER_NODE_ARGS
  const deployed = override === undefined ? [...WORKER_NODE_ARGS] : override.split(' ').filter(Boolean)
  return startService('services/integration-service/src/worker.ts', env, [...deployed, ...nodeArgs])
}

export async function waitFor(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return
    } catch {
      // not up yet
    }
    await sleep(200)
  }
  throw new Error(`${url} did not become ready`)
}

export async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve()
          // A process still closing after 20 s is not going to: the figures are taken, do not hang on it.
          const stuck = setTimeout(() => child.kill('SIGKILL'), 20_000)
          child.once('exit', () => {
            clearTimeout(stuck)
            resolve()
          })
          child.kill('SIGTERM')
        }),
    ),
  )
}

export interface LoadFigures {
  rps: number
  p50: number
  p99: number
}

/** An autocannon run's figures, refusing a run that was not all 2xx (a broken run must not print a figure). */
export function figuresOf(label: string, result: autocannon.Result): LoadFigures {
  if (result.non2xx > 0 || result.errors > 0 || result.requests.total === 0) {
    throw new Error(`${label}: ${result.non2xx} non-2xx answers, ${result.errors} errors, ${result.requests.total} requests`)
  }
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 }
}

export const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

export interface SteadyLoadResult {
  offered: number
  achieved: number
  p50: number
  p99: number
  max: number
  failures: number
}

/**
 * Open-loop load: `rate` requests per second spread evenly over `connections` keep-alive
 * connections, each request's latency counted from when it was due, not from when a connection
 * came free (so a stall is charged to every request it delays). autocannon's own rate option
 * releases each second's quota at once, which measures bursts rather than a steady load. The
 * connections are opened and warmed for `warmupSeconds` at the same rate before recording.
 */
export async function steadyLoad(options: {
  url: string
  headers: Record<string, string>
  connections: number
  rate: number
  seconds: number
  warmupSeconds?: number
  /** A request of its own for each send (e.g. a freshly signed webhook); a GET of `url` otherwise. */
  request?: () => { method: 'POST'; path: string; headers: Record<string, string>; body: string }
}): Promise<SteadyLoadResult> {
  const { origin, pathname, search } = new URL(options.url)
  const pool = new Pool(origin, { connections: options.connections, pipelining: 1 })
  const interval = 1000 / options.rate
  const send = async (): Promise<boolean> => {
    try {
      const response = await pool.request(options.request ? options.request() : { method: 'GET', path: pathname + search, headers: options.headers })
      await response.body.dump()
      return response.statusCode < 300
    } catch {
      return false
    }
  }
  /** Sends `total` requests on schedule; calls `done(index, latencyMs, ok)` for each. */
  const schedule = async (total: number, done: (index: number, latency: number, ok: boolean) => void): Promise<number> => {
    const inFlight: Promise<void>[] = []
    const started = performance.now()
    let sent = 0
    while (sent < total) {
      const now = performance.now()
      for (; sent < total && started + sent * interval <= now; sent++) {
        const index = sent
        const due = started + index * interval
        inFlight.push(send().then((ok) => done(index, performance.now() - due, ok)))
      }
      await sleep(1)
    }
    await Promise.all(inFlight)
    return (performance.now() - started) / 1000
  }
  try {
    await schedule(Math.round(options.rate * (options.warmupSeconds ?? 2)), () => {})
    const total = Math.round(options.rate * options.seconds)
    const latencies = new Float64Array(total)
    let failures = 0
    const elapsed = await schedule(total, (index, latency, ok) => {
      latencies[index] = latency
      if (!ok) failures++
    })
    latencies.sort()
    const at = (q: number) => latencies[Math.min(total - 1, Math.floor(q * total))] ?? 0
    return { offered: options.rate, achieved: total / elapsed, p50: at(0.5), p99: at(0.99), max: latencies[total - 1] ?? 0, failures }
  } finally {
    await pool.close()
  }
}
