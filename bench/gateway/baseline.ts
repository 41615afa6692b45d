// bench/gateway baseline: the gateway of this checkout against the gateway of another one (a
// worktree of an earlier commit, BENCH_BASELINE=<dir>, installed), both in front of the same
// venue-service, loaded alternately with the same GET. Prints each gateway's CPU per request
// (from /proc: what the code costs, whatever else the box is doing) and, when saturating, its
// req/s. A change to the gateway is judged by the per-round ratio, never by one run's throughput.
// BENCH_TARGET=venue-service compares the two checkouts' venue-services instead, each loaded
// directly, on the same database (for changes under the gateway: the kit, data access).
//   git worktree add --detach ../before <commit> && (cd ../before && pnpm install --frozen-lockfile)
//   BENCH_BASELINE=../before npx tsx bench/gateway/baseline.ts   [BENCH_RATE=400: a steady rate instead]
import { spawn, type ChildProcess } from 'node:child_process'
import { resolve } from 'node:path'
import { randomUUID } from 'node:crypto'
import autocannon from 'autocannon'
import { mintDevToken } from '@hub/service-kit'
import { createTestDatabase } from '@hub/service-kit/testing'
import { VENUE_SCHEMA } from '../../services/venue-service/src/db/schema.ts'
import { ROOT, benchEnv, fmt, freePort, startService, steadyLoad, stopAll, waitFor } from '../support.ts'
import { cpuMs, median } from './tracing.ts'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
const RATE = process.env.BENCH_RATE ? Number(process.env.BENCH_RATE) : undefined
const TARGET = process.env.BENCH_TARGET === 'venue-service' ? 'venue-service' : 'gateway'

async function run() {
  const baseline = process.env.BENCH_BASELINE
  if (!baseline) throw new Error('BENCH_BASELINE=<another checkout, installed> is required')
  const db = await createTestDatabase([VENUE_SCHEMA])
  const common = benchEnv()
  const venuePort = await freePort()
  const children: ChildProcess[] = [startService('services/venue-service/src/server.ts', { ...common, DATABASE_URL: db.urlFor(VENUE_SCHEMA.appRole), VENUE_SERVICE_PORT: String(venuePort) })]
  try {
    await waitFor(`http://127.0.0.1:${venuePort}/ready`, 300_000)
    const subjects: Array<{ label: string; port: number; child: ChildProcess; cpu: number[]; rps: number[] }> = []
    for (const [label, root] of [
      ['baseline', resolve(baseline)],
      ['this checkout', ROOT],
    ] as const) {
      const port = await freePort()
      const env =
        TARGET === 'gateway'
          ? { ...process.env, ...common, API_GATEWAY_PORT: String(port), VENUE_SERVICE_URL: `http://127.0.0.1:${venuePort}`, RATE_LIMIT_USER_MAX: '1000000000', MAX_IN_FLIGHT_PER_CLIENT: '1000' }
          : { ...process.env, ...common, DATABASE_URL: db.urlFor(VENUE_SCHEMA.appRole), VENUE_SERVICE_PORT: String(port) }
      // Each runs from its own tree, with that tree's dependencies.
      const script = TARGET === 'gateway' ? 'services/api-gateway/src/server.ts' : 'services/venue-service/src/server.ts'
      const child = spawn(process.execPath, ['--import', 'tsx', `${root}/${script}`], { cwd: root, env, stdio: ['ignore', 'ignore', 'inherit'] })
      children.push(child)
      subjects.push({ label, port, child, cpu: [], rps: [] })
      await waitFor(`http://127.0.0.1:${port}/ready`, 300_000)
    }
    const token = mintDevToken({ secret: common.JWT_SECRET ?? '', issuer: 'bench', audience: 'venue-hub', tenantId: randomUUID(), roles: ['admin'], expiresIn: 3600 })
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
    const created = await fetch(`http://127.0.0.1:${venuePort}/api/v1/venues`, { method: 'POST', headers, body: JSON.stringify({ name: 'Bench Hall', timezone: 'UTC', currency: 'USD' }) })
    if (!created.ok) throw new Error(`creating the venue: ${created.status} ${await created.text()}`)
    const { id } = (await created.json()) as { id: string }
    for (let round = 0; round < ROUNDS; round++) {
      // The order flips every round, so neither always runs on a box the other just warmed.
      for (const subject of round % 2 ? [...subjects].reverse() : subjects) {
        const url = `http://127.0.0.1:${subject.port}/api/v1/venues/${id}`
        await autocannon({ url, connections: 50, duration: 2, headers })
        const before = cpuMs(subject.child.pid)
        let requests: number
        if (RATE) {
          await steadyLoad({ url, headers, connections: 50, rate: RATE, seconds: SECONDS, warmupSeconds: 0 })
          requests = RATE * SECONDS
        } else {
          const result = await autocannon({ url, connections: 50, duration: SECONDS, headers })
          requests = result.requests.total
          subject.rps.push(result.requests.average)
        }
        subject.cpu.push(((cpuMs(subject.child.pid) - before) * 1000) / requests)
      }
      console.log(`  round ${round + 1} of ${ROUNDS} done`)
    }
    const [base, current] = subjects as [(typeof subjects)[0], (typeof subjects)[0]]
    console.log(`\nbench/gateway baseline (${TARGET}) — GET /api/v1/venues/:id, 50 connections, ${RATE ? `a steady ${RATE} req/s` : 'saturating'}, ${SECONDS} s per round; baseline ${resolve(baseline)}`)
    for (const subject of subjects) console.log(`  ${subject.label.padEnd(14)} ${TARGET} CPU per request ${subject.cpu.map((n) => fmt(n)).join(', ')} µs${subject.rps.length ? `; ${subject.rps.map((n) => fmt(n)).join(', ')} req/s` : ''}`)
    const change = current.cpu.map((n, i) => n / (base.cpu[i] ?? Number.NaN) - 1)
    console.log(`  CPU per request against the baseline, per round: ${change.map((c) => `${c >= 0 ? '+' : ''}${fmt(c * 100, 1)} %`).join(', ')} (median ${fmt(median(change) * 100, 1)} %)`)
  } finally {
    await stopAll(children)
    await db.drop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
