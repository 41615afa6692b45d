// Keeps the newcomer's map (docs/architecture.md) true for every service: each table's SQL lives in
// its owner file (or a reader the map names), every table a migration creates is on the map, each
// route file sits at the path of the URLs it registers, and every path the map names exists.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyRingJson } from '@hub/crypto'
import { createFastify, type ServiceInstance } from '@hub/service-kit'
import { createTestDatabase, deleteRedisPrefix, testRedisPrefix, testServiceEnv } from '@hub/service-kit/testing'
import venueService from '../../services/venue-service/src/app.ts'
import { loadConfig as loadVenueConfig } from '../../services/venue-service/src/config.ts'
import { VENUE_SCHEMA, VENUE_TABLES } from '../../services/venue-service/src/db/schema.ts'
import integrationService from '../../services/integration-service/src/app.ts'
import { loadConfig as loadIntegrationConfig } from '../../services/integration-service/src/config.ts'
import { INTEGRATION_SCHEMA, INTEGRATION_TABLES } from '../../services/integration-service/src/db/schema.ts'
import complianceService from '../../services/compliance-service/src/app.ts'
import { loadConfig as loadComplianceConfig } from '../../services/compliance-service/src/config.ts'
import { COMPLIANCE_SCHEMA, COMPLIANCE_TABLES } from '../../services/compliance-service/src/db/schema.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MAP = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8')
const KIT = '@hub/service-kit'

interface ServiceTables {
  service: string
  schema: string
  /** The name of the exported constant, e.g. INTEGRATION_TABLES. */
  constant: string
  tables: Record<string, string>
}

const SERVICES: ServiceTables[] = [
  { service: 'venue-service', schema: VENUE_SCHEMA.schema, constant: 'VENUE_TABLES', tables: VENUE_TABLES },
  { service: 'integration-service', schema: INTEGRATION_SCHEMA.schema, constant: 'INTEGRATION_TABLES', tables: INTEGRATION_TABLES },
  { service: 'compliance-service', schema: COMPLIANCE_SCHEMA.schema, constant: 'COMPLIANCE_TABLES', tables: COMPLIANCE_TABLES },
]

interface Owner {
  owner: string
  readers: string[]
}

/** The "Table → owner" section of the map: qualified table name → owner file and readers. */
function ownersFromMap(markdown: string): Map<string, Owner> {
  const owners = new Map<string, Owner>()
  const section = markdown.slice(markdown.indexOf('## Table → owner'))
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim())
    const table = /^`([a-z_]+\.[a-z_]+)`$/.exec(cells[1] ?? '')?.[1]
    const owner = /^`([^`]+)`$/.exec(cells[2] ?? '')?.[1]
    if (!table || !owner) continue
    const readers = [...(cells[3] ?? '').matchAll(/`([^`]+\.ts)`/g)].map((match) => match[1] as string)
    owners.set(table, { owner, readers })
  }
  return owners
}

function sourceFiles(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path))
    else if (entry.endsWith('.ts')) out.push(path)
  }
  return out
}

const repoPath = (path: string): string => relative(ROOT, path).split(sep).join('/')

/** Tables a migration folder creates (its own SQL, and the kit's outbox helpers). */
function migratedTables(service: string): string[] {
  const tables = new Set<string>()
  for (const file of sourceFiles(join(ROOT, 'services', service, 'migrations'))) {
    const text = readFileSync(file, 'utf8')
    for (const match of text.matchAll(/create table (?:if not exists )?([a-z_]+)/gi)) tables.add(match[1] as string)
    if (/createAuditOutboxTable\(/.test(text)) tables.add('audit_outbox')
    if (/createSecurityEventOutboxTable\(/.test(text)) tables.add('security_event_outbox')
  }
  return [...tables].sort()
}

export interface TableUse {
  file: string
  table: string
  /** Through the table constant (what the kit's own tables may be named by), or by name. */
  via: 'constant' | 'name'
}

/**
 * Every place a source file names one of the service's tables: the qualified name in a string or
 * SQL text, the table constant's key, or the bare name as a knex builder's table (`trx('records')`).
 */
export function tableUses(files: Array<{ file: string; text: string }>, spec: ServiceTables): TableUse[] {
  const byKey = new Map(Object.entries(spec.tables))
  const names = Object.values(spec.tables).map((qualified) => qualified.slice(spec.schema.length + 1))
  const uses: TableUse[] = []
  for (const { file, text } of files) {
    // Not followed by `.word`: `integration.records.changed` is an event type, not the table.
    for (const match of text.matchAll(new RegExp(`\\b${spec.schema}\\.(${names.join('|')})\\b(?!\\.[a-z])`, 'g'))) uses.push({ file, table: `${spec.schema}.${match[1]}`, via: 'name' })
    for (const match of text.matchAll(new RegExp(`\\b${spec.constant}\\.(\\w+)`, 'g'))) {
      const table = byKey.get(match[1] as string)
      if (table) uses.push({ file, table, via: 'constant' })
    }
    for (const match of text.matchAll(new RegExp(`\\b(?:trx|knex|tx|db)(?:<[^>]*>)?\\(\\s*['\`"](${names.join('|')})(?:\\s+as\\s+\\w+)?['\`"]`, 'g'))) uses.push({ file, table: `${spec.schema}.${match[1]}`, via: 'name' })
  }
  return uses
}

/** Uses of a table outside its owner and readers. The kit's tables may only be named through the constant. */
export function tableViolations(uses: TableUse[], owners: Map<string, Owner>, schemaFile: string, constant: string): string[] {
  const violations: string[] = []
  for (const use of uses) {
    if (use.file === schemaFile) continue
    const owner = owners.get(use.table)
    if (!owner) violations.push(`${use.file} names ${use.table}, which docs/architecture.md does not list`)
    // Handing the kit its table through the constant is fine; naming it (SQL, a literal) is not.
    else if (owner.owner === KIT) {
      if (use.via === 'name') violations.push(`${use.file} names ${use.table} itself; use ${constant} and let ${KIT} hold its SQL`)
    } else if (use.file !== owner.owner && !owner.readers.includes(use.file)) violations.push(`${use.file} queries ${use.table}, owned by ${owner.owner}`)
  }
  return [...new Set(violations)]
}

const staticSegments = (url: string): string[] => url.split('/').filter((segment) => segment !== '' && !segment.startsWith(':') && segment !== '*')

/** A route file `src/routes/a/b/c.ts` (or `c/index.ts`) must be a prefix of its URLs' static segments. */
export function routeViolations(routes: Array<{ method: string; url: string; file: string | null }>): string[] {
  const files = [...new Set(routes.flatMap((route) => (route.file ? [route.file] : [])))]
  const segmentsOf = (file: string) =>
    file
      .replace(/\.ts$/, '')
      .split('/')
      .filter((segment, index, all) => !(segment === 'index' && index === all.length - 1))
  const startsWith = (url: string, file: string) => {
    const path = staticSegments(url)
    return segmentsOf(file).every((segment, index) => path[index] === segment)
  }
  const violations: string[] = []
  for (const route of routes) {
    if (!/^\/(api|internal)\//.test(route.url)) continue
    if (route.file) {
      if (!startsWith(route.url, route.file)) violations.push(`${route.method} ${route.url} is registered by routes/${route.file}, whose path it does not start with`)
    } else if (!files.some((file) => startsWith(route.url, file))) {
      // A plugin's own routes (bull-board's dashboard) must still sit under a route file's path.
      violations.push(`${route.method} ${route.url} comes from no route file and sits under none`)
    }
  }
  return violations
}

test('the checks fail on a misplaced query and a misplaced route', () => {
  const spec = SERVICES[1] as ServiceTables
  const owners = ownersFromMap(MAP)
  const files = [
    { file: 'services/integration-service/src/plugins/app/sync/push-runner.ts', text: "await trx('integration.records').where({ id })" },
    { file: 'services/integration-service/src/plugins/app/sync/sync-service.ts', text: 'trx(INTEGRATION_TABLES.webhookInbox).update({})' },
    { file: 'services/integration-service/src/plugins/app/sync/sync-worker.ts', text: "trx('records').select('id')" },
    { file: 'services/integration-service/src/app.ts', text: "auditRelay: { table: 'integration.audit_outbox' }" },
  ]
  const violations = tableViolations(tableUses(files, spec), owners, 'services/integration-service/src/db/schema.ts', spec.constant)
  assert.equal(violations.length, 4, violations.join('\n'))
  assert.deepEqual(routeViolations([{ method: 'GET', url: '/api/v1/integrations/records', file: 'api/v1/integrations/sync/index.ts' }]).length, 1)
  assert.deepEqual(
    routeViolations([
      { method: 'GET', url: '/api/v1/integrations/elsewhere', file: null },
      { method: 'GET', url: '/api/v1/integrations/records', file: 'api/v1/integrations/records.ts' },
    ]).length,
    1,
  )
  assert.deepEqual(
    routeViolations([
      { method: 'GET', url: '/api/v1/venues/:id/members/:userId', file: 'api/v1/venues/members.ts' },
      { method: 'GET', url: '/api/v1/venues/:id', file: 'api/v1/venues/index.ts' },
    ]),
    [],
  )
})

test('every table is on the map, and its SQL lives in its owner file', () => {
  const owners = ownersFromMap(MAP)
  const problems: string[] = []
  for (const spec of SERVICES) {
    const listed = Object.values(spec.tables).sort()
    const mapped = [...owners.keys()].filter((table) => table.startsWith(`${spec.schema}.`)).sort()
    assert.deepEqual(mapped, listed, `${spec.service}: docs/architecture.md and ${spec.constant} list different tables`)
    assert.deepEqual(
      migratedTables(spec.service).map((table) => `${spec.schema}.${table}`),
      listed,
      `${spec.service}: its migrations create tables ${spec.constant} does not list (or the reverse)`,
    )
    for (const table of listed) {
      const owner = owners.get(table) as Owner
      for (const file of [owner.owner, ...owner.readers]) if (file !== KIT && !existsSync(join(ROOT, file))) problems.push(`${table}: ${file} does not exist`)
    }
    const files = sourceFiles(join(ROOT, 'services', spec.service, 'src')).map((path) => ({ file: repoPath(path), text: readFileSync(path, 'utf8') }))
    problems.push(...tableViolations(tableUses(files, spec), owners, `services/${spec.service}/src/db/schema.ts`, spec.constant))
    // An owner that never names its table is a stale map.
    const used = new Set(tableUses(files, spec).map((use) => `${use.table} ${use.file}`))
    for (const table of listed) {
      const owner = owners.get(table) as Owner
      if (owner.owner !== KIT && !used.has(`${table} ${owner.owner}`)) problems.push(`${table}: its owner ${owner.owner} never names it`)
    }
  }
  assert.deepEqual(problems, [])
})

test('every path the map names exists', () => {
  const missing = [...MAP.matchAll(/`((?:services|packages|apps|infra|e2e|docs)\/[\w./-]+)`/g)].map((match) => match[1] as string).filter((path) => !existsSync(join(ROOT, path)))
  assert.deepEqual([...new Set(missing)], [])
})

test('each route file sits at the path of the URLs it registers', async () => {
  const db = await createTestDatabase([VENUE_SCHEMA, INTEGRATION_SCHEMA, COMPLIANCE_SCHEMA])
  const prefix = testRedisPrefix()
  const common = testServiceEnv(prefix)
  const apps: ServiceInstance[] = []
  after(async () => {
    await Promise.all(apps.map((app) => app.close()))
    await db.drop()
    await deleteRedisPrefix(prefix)
  })
  const nowhere = 'http://127.0.0.1:9'
  const services: Array<{ service: string; register: (app: ServiceInstance) => PromiseLike<unknown> }> = [
    { service: 'venue-service', register: (app) => app.register(venueService, { config: loadVenueConfig({ ...common, DATABASE_URL: db.urlFor(VENUE_SCHEMA.appRole), COMPLIANCE_SERVICE_URL: nowhere, INTEGRATION_SERVICE_URL: nowhere }) }) },
    {
      service: 'integration-service',
      register: (app) =>
        app.register(integrationService, {
          config: loadIntegrationConfig({ ...common, DATABASE_URL: db.urlFor(INTEGRATION_SCHEMA.appRole), ENCRYPTION_KEYS: generateKeyRingJson([1]), VENUE_SERVICE_URL: nowhere, COMPLIANCE_SERVICE_URL: nowhere }),
        }),
    },
    {
      service: 'compliance-service',
      register: (app) =>
        app.register(complianceService, { config: loadComplianceConfig({ ...common, DATABASE_URL: db.urlFor(COMPLIANCE_SCHEMA.appRole), SYNC_LOG_CONSUMER: 'false', INTEGRATION_SERVICE_URL: nowhere, VENUE_SERVICE_URL: nowhere }) }),
    },
  ]
  // The route file is the one on the stack when the route is added (tsx keeps .ts paths).
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 200
  const problems: string[] = []
  try {
    for (const { service, register } of services) {
      const app = createFastify({ service: 'architecture', logLevel: 'silent' })
      apps.push(app)
      const routes: Array<{ method: string; url: string; file: string | null }> = []
      const marker = new RegExp(`services/${service}/src/routes/([\\w/.-]+\\.ts)`)
      app.addHook('onRoute', (route) => {
        const file = marker.exec(new Error().stack ?? '')?.[1] ?? null
        for (const method of [route.method].flat()) routes.push({ method, url: route.url, file })
      })
      await register(app)
      await app.ready()
      assert.ok(
        routes.some((route) => route.file !== null),
        `${service}: no route was traced to a route file`,
      )
      problems.push(...routeViolations(routes).map((problem) => `${service}: ${problem}`))
    }
  } finally {
    Error.stackTraceLimit = limit
  }
  assert.deepEqual(problems, [])
})
