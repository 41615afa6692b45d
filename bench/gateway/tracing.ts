// bench/gateway tracing: GET /api/v1/venues/:id through the gateway (and on to venue-service),
// with tracing off and with tracing on at 10 % sampling (parent-based trace-id ratio, exporting
// OTLP/HTTP to a local sink), in one run: two identical stacks, measured alternately
// (off, on, off, on, …) so drift on a shared machine hits both, or with BENCH_CONCURRENT=1 at the
// same time, each at the fixed BENCH_RATE, so the same seconds of the box hit both. Prints req/s, p99, each process's
// CPU time per request, and the cost. On a shared box the throughput ratio moves with whatever else
// runs; CPU per request (from /proc, user + system) is what the code costs, whatever the load.
import type { ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { resolve } from 'node:path'
import type { AddressInfo } from 'node:net'
import { loadavg } from 'node:os'
import { randomUUID } from 'node:crypto'
import autocannon from 'autocannon'
import { mintDevToken } from '@hub/service-kit'
import { createTestDatabase } from '@hub/service-kit/testing'
import { VENUE_SCHEMA } from '../../services/venue-service/src/db/schema.ts'
import { ROOT, benchEnv, figuresOf, fmt, freePort, startService, steadyLoad, stopAll, waitFor, type LoadFigures } from '../support.ts'

const DURATION = Number(process.env.BENCH_SECONDS ?? 6)
const CONNECTIONS = 50
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4)
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 15)
const SAMPLE_RATIO = 0.1
/** The target: tracing at 10 % sampling costs at most 5 % of throughput. */
const TARGET_COST = 0.05
const CLOCK_TICKS_PER_SECOND = 100

/** Accepts OTLP exports and only counts them and their bytes, so the sink costs the box as little as possible. */
export async function startSink(): Promise<{ url: string; exports: () => number; bytes: () => number; close: () => Promise<void> }> {
  let exports = 0
  let bytes = 0
  const server = createServer((req, res) => {
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length
    })
    req.on('end', () => {
      exports++
      // An empty answer is a valid ExportTraceServiceResponse in JSON and in protobuf alike.
      res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/json' }).end(req.headers['content-type'] === 'application/json' ? '{}' : '')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, exports: () => exports, bytes: () => bytes, close: () => new Promise((resolve) => server.close(() => resolve())) }
}

/** Tracing on at 10 % (parent-based ratio), exporting to `endpoint` as shipped (OTLP/HTTP protobuf); OTEL_* set for the bench itself pass through (e.g. OTEL_NODE_DISABLED_INSTRUMENTATIONS). */
export function tracingEnv(endpoint: string): Record<string, string> {
  const passed = Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[0].startsWith('OTEL_') && entry[1] !== undefined))
  return { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: String(SAMPLE_RATIO), ...passed }
}

/** User + system CPU in a /proc `stat` line, in ms (the command name, field 2, may hold spaces). */
function statCpuMs(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND
}

/** User + system CPU a process has used so far, in ms (Linux /proc). */
export function cpuMs(pid: number | undefined): number {
  return pid === undefined ? Number.NaN : statCpuMs(readFileSync(`/proc/${pid}/stat`, 'utf8'))
}

/** CPU per thread name (main thread, V8's GC and compiler helpers, libuv's pool), in ms: where a process's time goes beyond its JavaScript. */
function threadCpuMs(pid: number | undefined): Map<string, number> {
  const byName = new Map<string, number>()
  if (pid === undefined) return byName
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    let stat: string
    try {
      stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8')
    } catch {
      continue // the thread ended
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
    byName.set(name, (byName.get(name) ?? 0) + statCpuMs(stat))
  }
  return byName
}

function perThread(before: Map<string, number>, after: Map<string, number>, requests: number): string {
  return [...after.entries()]
    .map(([name, ms]) => [name, ((ms - (before.get(name) ?? 0)) * 1000) / requests] as const)
    .filter(([, us]) => us >= 1)
    .sort((a, b) => b[1] - a[1])
    .map(([name, us]) => `${name} ${fmt(us)}`)
    .join(', ')
}

export interface Stack {
  label: string
  env: Record<string, string>
}

export interface RoundFigures extends LoadFigures {
  requests: number
  /** CPU per request, µs. */
  gatewayCpu: number
  venueCpu: number
}

export interface Summary {
  label: string
  rps: number
  p99: number
  gatewayCpu: number
  venueCpu: number
  rounds: RoundFigures[]
}

const mean = (list: number[]) => list.reduce((sum, n) => sum + n, 0) / list.length
export const median = (list: number[]) => {
  const sorted = [...list].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? (sorted[middle] ?? Number.NaN) : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2
}
const range = (list: number[], digits = 0) => `${fmt(Math.min(...list), digits)}–${fmt(Math.max(...list), digits)}`

/**
 * Starts one gateway + venue-service pair per stack (the stack's env on top of the common one),
 * then measures them alternately, `rounds` times each, on the same venue; `concurrent` loads
 * them all at once in each round instead (with `rate`, the least noisy comparison on a shared box).
 */
export async function compareStacks(stacks: Stack[], options: { rounds?: number; seconds?: number; rate?: number; concurrent?: boolean } = {}): Promise<{ summaries: Summary[]; exports: number; exportedBytes: number }> {
  const rounds = options.rounds ?? ROUNDS
  const seconds = options.seconds ?? DURATION
  const db = await createTestDatabase([VENUE_SCHEMA])
  const sink = await startSink()
  const common = benchEnv()
  const ports = await Promise.all(stacks.map(async () => ({ venue: await freePort(), gateway: await freePort() })))
  const started: { venue: ChildProcess; gateway: ChildProcess }[] = []
  try {
    // One process at a time: several compiling at once on a busy two-core box can take minutes.
    for (const [i, stack] of stacks.entries()) {
      const port = ports[i] as { venue: number; gateway: number }
      // BENCH_NODE: this stack's processes run on another Node binary (e.g. Node 22 beside Node 20 in one run);
      // BENCH_CHECKOUT: they run another checkout's code (an earlier commit's worktree, installed).
      const { BENCH_NODE: node, BENCH_CHECKOUT: checkout, ...stackEnv } = stack.env
      const root = checkout ? resolve(checkout) : ROOT
      const env: Record<string, string> = { ...common, ...stackEnv }
      // "sink": this run's OTLP sink (where spans go does not matter, only that they are sent).
      if (env.OTEL_EXPORTER_OTLP_ENDPOINT === 'sink') env.OTEL_EXPORTER_OTLP_ENDPOINT = sink.url
      const venue = startService('services/venue-service/src/server.ts', { ...env, DATABASE_URL: db.urlFor(VENUE_SCHEMA.appRole), VENUE_SERVICE_PORT: String(port.venue) }, [], node, root)
      started.push({ venue, gateway: venue })
      await waitFor(`http://127.0.0.1:${port.venue}/ready`, 300_000)
      const gateway = startService(
        'services/api-gateway/src/server.ts',
        {
          ...env,
          API_GATEWAY_PORT: String(port.gateway),
          VENUE_SERVICE_URL: `http://127.0.0.1:${port.venue}`,
          RATE_LIMIT_USER_MAX: '1000000000',
          MAX_IN_FLIGHT_PER_CLIENT: '1000',
        },
        [],
        node,
        root,
      )
      started[i] = { venue, gateway }
      await waitFor(`http://127.0.0.1:${port.gateway}/ready`, 300_000)
    }
    const tenantId = randomUUID()
    const token = mintDevToken({ secret: common.JWT_SECRET ?? '', issuer: 'bench', audience: 'venue-hub', tenantId, roles: ['admin'], expiresIn: 3600 })
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
    const created = await fetch(`http://127.0.0.1:${ports[0]?.gateway}/api/v1/venues`, { method: 'POST', headers, body: JSON.stringify({ name: 'Bench Hall', timezone: 'UTC', currency: 'USD' }) })
    const venue = (await created.json()) as { id: string }
    const path = `/api/v1/venues/${venue.id}`

    for (const [i, stack] of stacks.entries()) {
      const probe = await fetch(`http://127.0.0.1:${ports[i]?.gateway}${path}`, { headers })
      if (!probe.ok) throw new Error(`${stack.label}: GET ${path} answered ${probe.status} ${await probe.text()}`)
    }
    const results: RoundFigures[][] = stacks.map(() => [])
    /** Loads stack `i` for one round and reads what its two processes spent on it. */
    const measure = async (i: number, round: number): Promise<RoundFigures> => {
      const stack = stacks[i] as Stack
      const url = `http://127.0.0.1:${ports[i]?.gateway}${path}`
      const { gateway, venue: upstream } = started[i] as { gateway: { pid?: number }; venue: { pid?: number } }
      // Warm up connection pools and JIT before measuring; longer before the first round: a traced
      // stack has more code to compile (the sampled path runs on one request in ten), and without
      // it the first rounds measured its warm-up (CPU cost falling round after round, +39 % to +9 %).
      await autocannon({ url, connections: CONNECTIONS, duration: round === 0 ? WARMUP_SECONDS : 2, headers })
      const before = { gateway: cpuMs(gateway.pid), venue: cpuMs(upstream.pid) }
      const threadsBefore = { gateway: threadCpuMs(gateway.pid), venue: threadCpuMs(upstream.pid) }
      let requests: number
      let figures: LoadFigures
      if (options.rate) {
        // A fixed rate well under capacity: CPU per request without the queueing of a saturated box.
        const steady = await steadyLoad({ url, headers, connections: CONNECTIONS, rate: options.rate, seconds, warmupSeconds: 0 })
        // A request that failed (timed out on a box too busy to answer) still cost what it cost; it is counted and printed.
        if (steady.failures > 0) console.log(`  ${stack.label}: ${steady.failures} of ${Math.round(options.rate * seconds)} requests failed at ${options.rate} req/s`)
        requests = Math.round(options.rate * seconds)
        figures = { rps: steady.achieved, p50: steady.p50, p99: steady.p99 }
      } else {
        const result = await autocannon({ url, connections: CONNECTIONS, duration: seconds, headers })
        requests = result.requests.total
        figures = figuresOf(stack.label, result)
      }
      // Responses are all in; the last few spans' export is in the next round's window (same for every round).
      const figuresOfRound = { ...figures, requests, gatewayCpu: ((cpuMs(gateway.pid) - before.gateway) * 1000) / requests, venueCpu: ((cpuMs(upstream.pid) - before.venue) * 1000) / requests }
      if (process.env.BENCH_VERBOSE) {
        console.log(`  round ${round + 1} ${stack.label}: ${fmt(figuresOfRound.rps)} req/s, CPU per request gateway ${fmt(figuresOfRound.gatewayCpu)} µs, venue-service ${fmt(figuresOfRound.venueCpu)} µs`)
        console.log(`    by thread, µs per request: gateway ${perThread(threadsBefore.gateway, threadCpuMs(gateway.pid), requests)}; venue-service ${perThread(threadsBefore.venue, threadCpuMs(upstream.pid), requests)}`)
      }
      return figuresOfRound
    }
    for (let round = 0; round < rounds; round++) {
      if (options.concurrent) {
        // Every stack under load at the same moments: whatever slows the box (a neighbour, the
        // clock) slows them all alike, so the ratio of their CPU per request leaves it out.
        const figures = await Promise.all(stacks.map((_, i) => measure(i, round)))
        figures.forEach((f, i) => results[i]?.push(f))
      } else {
        for (const i of stacks.keys()) results[i]?.push(await measure(i, round))
      }
    }
    const summaries = stacks.map((stack, i) => {
      const list = results[i] ?? []
      return { label: stack.label, rps: mean(list.map((r) => r.rps)), p99: mean(list.map((r) => r.p99)), gatewayCpu: mean(list.map((r) => r.gatewayCpu)), venueCpu: mean(list.map((r) => r.venueCpu)), rounds: list }
    })
    return { summaries, exports: sink.exports(), exportedBytes: sink.bytes() }
  } finally {
    await stopAll([...new Set(started.flatMap((stack) => [stack.gateway, stack.venue]))])
    await sink.close()
    await db.drop()
  }
}

export function printSummaries(title: string, summaries: Summary[], note = ''): void {
  const [base] = summaries
  if (!base) return
  console.log(
    `\n${title}, ${CONNECTIONS} connections, ${base.rounds.length} rounds; load average ${loadavg()
      .map((n) => fmt(n, 1))
      .join(' ')}${note}`,
  )
  for (const s of summaries) {
    const rps = s.rounds.map((r) => r.rps)
    const cost = (value: number, reference: number) => (s === base ? '' : ` (${value >= reference ? '+' : ''}${fmt(((value - reference) / reference) * 100, 1)} %)`)
    console.log(
      `  ${s.label.padEnd(34)} ${fmt(s.rps).padStart(6)} req/s (runs ${range(rps)})  p99 ${fmt(s.p99, 1)} ms  CPU per request: gateway ${fmt(s.gatewayCpu)} µs${cost(s.gatewayCpu, base.gatewayCpu)}, venue-service ${fmt(s.venueCpu)} µs${cost(s.venueCpu, base.venueCpu)}`,
    )
  }
}

export async function run() {
  // BENCH_TRACING_VARIANTS adds stacks for an ablation: '|' between stacks, ';' between the
  // KEY=VALUE each sets on top of tracing on, e.g. `OTEL_NODE_ENABLED_INSTRUMENTATIONS=http|NODE_OPTIONS=--experimental-async-context-frame`;
  // OTEL_SDK_DISABLED=true makes a variant an untraced stack, BENCH_NODE=<path> runs it on another Node,
  // BENCH_CHECKOUT=<dir> on another checkout's code (`git worktree add --detach ../before <commit>`, installed).
  const variants = (process.env.BENCH_TRACING_VARIANTS ?? '').split('|').filter(Boolean)
  const stacks: Stack[] = [
    { label: 'tracing off', env: {} },
    { label: `tracing on, ${SAMPLE_RATIO * 100} % sampled`, env: tracingEnv('sink') },
    ...variants.map((variant) => ({ label: `on, ${variant}`, env: { ...tracingEnv('sink'), ...Object.fromEntries(variant.split(';').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)])) } })),
  ]
  // BENCH_RATE: a fixed request rate instead of as fast as the box goes (CPU per request on a busy box);
  // BENCH_CONCURRENT=1: every stack loaded at once in each round instead of one after another.
  const concurrent = process.env.BENCH_CONCURRENT === '1'
  const { summaries, exports, exportedBytes } = await compareStacks(stacks, { ...(process.env.BENCH_RATE ? { rate: Number(process.env.BENCH_RATE) } : {}), concurrent })
  const [off, on] = summaries as [Summary, Summary]
  printSummaries(
    `bench/gateway tracing — GET /api/v1/venues/:id through the gateway, ${DURATION} s per run`,
    summaries,
    `, ${concurrent ? 'all stacks at once' : 'stacks alternating'}; ${exports} OTLP exports received, ${fmt(exportedBytes / 1e6, 1)} MB`,
  )
  const cost = 1 - on.rps / off.rps
  // Per round, on against the off run just before it (or beside it): a ratio of neighbours is less moved by drift.
  const paired = on.rounds.map((r, i) => 1 - r.rps / (off.rounds[i]?.rps ?? Number.NaN))
  const cpuCost = (on.gatewayCpu + on.venueCpu) / (off.gatewayCpu + off.venueCpu) - 1
  // CPU per request of each stack against the off stack of the same round; the median is the figure least moved by one disturbed round.
  const pairedCpu = (stack: Summary) => stack.rounds.map((r, i) => (r.gatewayCpu + r.venueCpu) / ((off.rounds[i]?.gatewayCpu ?? Number.NaN) + (off.rounds[i]?.venueCpu ?? Number.NaN)) - 1)
  const signed = (n: number) => `${n >= 0 ? '+' : ''}${fmt(n * 100, 1)}`
  console.log(`  throughput cost of tracing: ${fmt(cost * 100, 1)} % (per round: ${paired.map((c) => fmt(c * 100, 1)).join(', ')} %); CPU per request, both processes: ${signed(cpuCost)} %`)
  for (const stack of summaries.slice(1)) console.log(`  CPU per request against the same round's off stack, ${stack.label}: ${pairedCpu(stack).map(signed).join(', ')} % (median ${signed(median(pairedCpu(stack)))} %)`)
  // At a fixed rate every stack serves the same requests, so only the CPU they cost can tell them apart.
  const onThroughput = process.env.BENCH_RATE ? 'not judged at a fixed rate' : `${cost <= TARGET_COST ? 'met' : 'NOT met'} on throughput`
  console.log(`  target: at most ${TARGET_COST * 100} %: ${onThroughput}, ${cpuCost <= TARGET_COST ? 'met' : 'NOT met'} on CPU`)
  return { off, on, cost, cpuCost }
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
