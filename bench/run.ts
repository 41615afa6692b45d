// `pnpm bench [name ...]`: runs the benchmarks one after another, each in its own process so one
// cannot warm or starve another, and prints their figures. Names: gateway, secrets, internal-auth,
// providers, sync, reconcile, webhooks, scale, redis-outage, retention, events, telemetry.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

const ROOT = join(import.meta.dirname, '..')
const BENCHES: Record<string, string[]> = {
  gateway: ['bench/gateway/gateway.ts', 'bench/gateway/tracing.ts'],
  secrets: ['bench/secrets/crypto.ts', 'bench/secrets/connection-get.ts'],
  'internal-auth': ['bench/internal-auth/sign-verify.ts', 'bench/internal-auth/signed-vs-unsigned.ts'],
  providers: ['bench/providers/providers.ts'],
  sync: ['bench/sync/sync.ts', 'bench/sync/concurrent.ts'],
  reconcile: ['bench/reconcile/reconcile.ts'],
  webhooks: ['bench/webhooks/webhooks.ts'],
  scale: ['bench/scale/scale.ts'],
  'redis-outage': ['bench/redis-outage/redis-outage.ts'],
  retention: ['bench/retention/retention.ts'],
  events: ['bench/events/relay.ts', 'bench/events/delivery.ts'],
  telemetry: ['bench/telemetry/otlp-export.ts'],
}

const wanted = process.argv.slice(2).filter((arg) => !arg.startsWith('-'))
const names = wanted.length > 0 ? wanted : Object.keys(BENCHES)
let failed = 0
for (const name of names) {
  const scripts = BENCHES[name]
  if (!scripts) {
    console.error(`unknown benchmark "${name}"; choose from ${Object.keys(BENCHES).join(', ')}`)
    process.exit(2)
  }
  for (const script of scripts) {
    console.log(`\n▸ ${script}`)
    const result = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, script)], { cwd: ROOT, stdio: 'inherit' })
    if (result.status !== 0) failed += 1
  }
}
process.exit(failed > 0 ? 1 : 0)
