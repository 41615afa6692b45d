// bench/gateway baseline: the gateway of this checkout against the gateway of another one (a
// worktree of an earlier commit, BENCH_BASELINE=<dir>, installed), both in front of the same
// venue-service, loaded alternately with the same GET. Prints each gateway's CPU per request
// (from /proc: what the code costs, whatever else the box is doing) and, when saturating, its
// req/s. A change to the gateway is judged by the per-round ratio, never by one run's throughput.
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

async function run() {
  const baseline = process.env.BENCH_BASELINE
  if (!baseline) throw new Error('BENCH_BASELINE=<another checkout, installed> is required')
  const db = await createTestDatabase([VENUE_SCHEMA])
  const common = benchEnv()
  const venuePort = await freePort()
  const children: ChildProcess[] = [startService('services/venue-service/src/server.ts', { ...common, DATABASE_URL: db.urlFor(VENUE_SCHEMA.appRole), VENUE_SERVICE_PORT: String(venuePort) })]
  try {
    await waitFor(`http://127.0.0.1:${venuePort}/ready`, 300_000)
    const gateways: Array<{ label: string; port: number; child: ChildProcess; cpu: number[]; rps: number[] }> = []
    for (const [label, root] of [
      ['baseline', resolve(baseline)],
      ['this checkout', ROOT],
    ] as const) {
      const port = await freePort()
      const env = { ...process.env, ...common, API_GATEWAY_PORT: String(port), VENUE_SERVICE_URL: `http://127.0.0.1:${venuePort}`, RATE_LIMIT_USER_MAX: '1000000000', MAX_IN_FLIGHT_PER_CLIENT: '1000' }
      // Each gateway runs from its own tree, with that tree's dependencies.
      const child = spawn(process.execPath, ['--import', 'tsx', `${root}/services/api-gateway/src/server.ts`], { cwd: root, env, stdio: ['ignore', 'ignore', 'inherit'] })
      children.push(child)
      gateways.push({ label, port, child, cpu: [], rps: [] })
      await waitFor(`http://127.0.0.1:${port}/ready`, 300_000)
    }
    const token = mintDevToken({ secret: common.JWT_SECRET ?? '', issuer: 'bench', audience: 'venue-hub', tenantId: randomUUID(), roles: ['admin'], expiresIn: 3600 })
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
    const created = await fetch(`http://127.0.0.1:${venuePort}/api/v1/venues`, { method: 'POST', headers, body: JSON.stringify({ name: 'Bench Hall', timezone: 'UTC', currency: 'USD' }) })
    if (!created.ok) throw new Error(`creating the venue: ${created.status} ${await created.text()}`)
    const { id } = (await created.json()) as { id: string }
    for (let round = 0; round < ROUNDS; round++) {
      // The order flips every round, so neither gateway always runs on a box the other just warmed.
      for (const gateway of round % 2 ? [...gateways].reverse() : gateways) {
        const url = `http://127.0.0.1:${gateway.port}/api/v1/venues/${id}`
        await autocannon({ url, connections: 50, duration: 2, headers })
        const before = cpuMs(gateway.child.pid)
        let requests: number
        if (RATE) {
          await steadyLoad({ url, headers, connections: 50, rate: RATE, seconds: SECONDS, warmupSeconds: 0 })
          requests = RATE * SECONDS
        } else {
          const result = await autocannon({ url, connections: 50, duration: SECONDS, headers })
          requests = result.requests.total
          gateway.rps.push(result.requests.average)
        }
        gateway.cpu.push(((cpuMs(gateway.child.pid) - before) * 1000) / requests)
      }
      console.log(`  round ${round + 1} of ${ROUNDS} done`)
    }
    const [base, current] = gateways as [(typeof gateways)[0], (typeof gateways)[0]]
    console.log(`\nbench/gateway baseline — GET /api/v1/venues/:id, 50 connections, ${RATE ? `a steady ${RATE} req/s` : 'saturating'}, ${SECONDS} s per round; baseline ${resolve(baseline)}`)
    for (const gateway of gateways) console.log(`  ${gateway.label.padEnd(14)} gateway CPU per request ${gateway.cpu.map((n) => fmt(n)).join(', ')} µs${gateway.rps.length ? `; ${gateway.rps.map((n) => fmt(n)).join(', ')} req/s` : ''}`)
    const change = current.cpu.map((n, i) => n / (base.cpu[i] ?? Number.NaN) - 1)
    console.log(`  CPU per request against the baseline, per round: ${change.map((c) => `${c >= 0 ? '+' : ''}${fmt(c * 100, 1)} %`).join(', ')} (median ${fmt(median(change) * 100, 1)} %)`)
  } finally {
    await stopAll(children)
    await db.drop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
