// bench/gateway tracing profile: the tracing bench's stack (venue-service behind the gateway) run
// once under `node --cpu-prof`, loaded with the same GET, then each process's profile summarised:
// self time by package and the top functions. TRACING=off profiles the untraced stack for
// comparison. Not part of `npm run bench` (it prints a profile, not a figure to track).
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import autocannon from 'autocannon'
import { mintDevToken } from '@hub/service-kit'
import { createTestDatabase } from '@hub/service-kit/testing'
import { VENUE_SCHEMA } from '../../services/venue-service/src/db/schema.ts'
import { benchEnv, fmt, freePort, startService, stopAll, waitFor } from '../support.ts'
import { startSink, tracingEnv } from './tracing.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 15)
const TOP = Number(process.env.PROFILE_TOP ?? 25)

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
}
interface CpuProfile {
  startTime: number
  endTime: number
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

/** Which package a script belongs to (`@opentelemetry/sdk-trace`, `fastify`, `node:internal`, `(app)`). */
function packageOf(url: string): string {
  if (!url) return '(native/gc/idle)'
  if (url.startsWith('node:')) return url.startsWith('node:internal/async_hooks') || url.includes('async_local_storage') ? 'node:async_hooks' : 'node:internal'
  const at = url.lastIndexOf('/node_modules/')
  if (at === -1) return url.includes('/packages/telemetry/') ? '@hub/telemetry' : '(app)'
  const parts = url.slice(at + '/node_modules/'.length).split('/')
  return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? '?')
}

/** Self time of the samples taken within `window` (µs from the profile's end: [from, to]), so start-up and shutdown are left out. */
export function summarise(file: string, window: { from: number; to: number }): { total: number; byPackage: [string, number][]; byFunction: [string, number][] } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
  const byPackage = new Map<string, number>()
  const byFunction = new Map<string, number>()
  let total = 0
  let at = profile.startTime
  profile.samples.forEach((id, i) => {
    const node = nodes.get(id)
    const delta = profile.timeDeltas[i] ?? 0
    at += delta
    const beforeEnd = profile.endTime - at
    if (beforeEnd > window.from || beforeEnd < window.to) return
    if (!node || node.callFrame.functionName === '(idle)') return
    total += delta
    const { functionName, url, lineNumber } = node.callFrame
    const pkg = packageOf(url)
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + delta)
    const where = url ? `${url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/\/work\/wt\/[^/]+\//, '')}:${lineNumber + 1}` : ''
    const key = `${functionName || '(anonymous)'} ${where}`
    byFunction.set(key, (byFunction.get(key) ?? 0) + delta)
  })
  const sorted = (map: Map<string, number>) => [...map.entries()].sort((a, b) => b[1] - a[1])
  return { total, byPackage: sorted(byPackage), byFunction: sorted(byFunction) }
}

function print(label: string, file: string, window: { from: number; to: number }): void {
  const { total, byPackage, byFunction } = summarise(file, window)
  const pct = (us: number) => `${fmt((us / total) * 100, 1).padStart(5)} %`
  console.log(`\n${label}: ${fmt(total / 1000)} ms of CPU sampled under load (idle excluded)`)
  console.log('  self time by package:')
  for (const [name, us] of byPackage.slice(0, 15)) console.log(`    ${pct(us)}  ${name}`)
  console.log(`  top ${TOP} functions by self time:`)
  for (const [name, us] of byFunction.slice(0, TOP)) console.log(`    ${pct(us)}  ${name}`)
}

async function run() {
  const on = (process.env.TRACING ?? 'on') !== 'off'
  const db = await createTestDatabase([VENUE_SCHEMA])
  const sink = await startSink()
  const common = benchEnv()
  const env = on ? tracingEnv(sink.url) : {}
  const dir = mkdtempSync(join(tmpdir(), 'hub-tracing-profile-'))
  const port = { venue: await freePort(), gateway: await freePort() }
  const prof = (name: string) => ['--cpu-prof', `--cpu-prof-dir=${join(dir, name)}`]
  const children = [
    startService('services/venue-service/src/server.ts', { ...common, ...env, DATABASE_URL: db.urlFor(VENUE_SCHEMA.appRole), VENUE_SERVICE_PORT: String(port.venue) }, prof('venue-service')),
    startService(
      'services/api-gateway/src/server.ts',
      { ...common, ...env, API_GATEWAY_PORT: String(port.gateway), VENUE_SERVICE_URL: `http://127.0.0.1:${port.venue}`, RATE_LIMIT_USER_MAX: '1000000000', MAX_IN_FLIGHT_PER_CLIENT: '1000' },
      prof('api-gateway'),
    ),
  ]
  let loadEnded = 0
  let stopped = 0
  try {
    await waitFor(`http://127.0.0.1:${port.venue}/ready`, 180_000)
    await waitFor(`http://127.0.0.1:${port.gateway}/ready`, 180_000)
    const token = mintDevToken({ secret: common.JWT_SECRET ?? '', issuer: 'bench', audience: 'venue-hub', tenantId: randomUUID(), roles: ['admin'], expiresIn: 3600 })
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
    const created = await fetch(`http://127.0.0.1:${port.gateway}/api/v1/venues`, { method: 'POST', headers, body: JSON.stringify({ name: 'Bench Hall', timezone: 'UTC', currency: 'USD' }) })
    const venue = (await created.json()) as { id: string }
    const url = `http://127.0.0.1:${port.gateway}/api/v1/venues/${venue.id}`
    const result = await autocannon({ url, connections: 50, duration: SECONDS, headers })
    loadEnded = performance.now()
    console.log(`tracing ${on ? 'on (10 % sampled)' : 'off'}: ${fmt(result.requests.average)} req/s over ${SECONDS} s, ${result.non2xx} non-2xx, ${sink.exports()} OTLP exports`)
  } finally {
    await stopAll(children)
    stopped = performance.now()
    await sink.close()
    await db.drop()
  }
  // The load's last seconds before the processes were told to stop (the first second is warm-up).
  const tail = (stopped - loadEnded) * 1000
  const window = { from: tail + (SECONDS - 1) * 1e6, to: tail }
  for (const name of ['api-gateway', 'venue-service']) {
    // tsx's loader thread writes its own (small) profile; the main thread's is the largest.
    const files = readdirSync(join(dir, name)).filter((file) => file.endsWith('.cpuprofile'))
    const main = files.map((file) => join(dir, name, file)).sort((a, b) => statSync(b).size - statSync(a).size)[0]
    if (main) print(`${name} (${on ? 'tracing on' : 'tracing off'})`, main, window)
  }
  console.log(`\nprofiles kept in ${dir} (open them in Chrome DevTools → Performance)`)
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
