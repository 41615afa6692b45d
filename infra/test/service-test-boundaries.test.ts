// Tests inside a service never start another service (docs/architecture.md §9): a service's test
// that needs another one uses a fake from @hub/service-kit/testing, and flows across services are
// proven on real processes in e2e/. This guard fails on any import of another service's source
// from a service's tests, however the path is spelled.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const SERVICES = join(ROOT, 'services')

function sourceFiles(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules') continue
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path))
    else if (/\.(c|m)?[jt]sx?$/.test(entry)) out.push(path)
  }
  return out
}

/** Module specifiers of static imports, re-exports and dynamic imports (string literals). */
export function importedSpecifiers(source: string): string[] {
  const specifiers: string[] = []
  const patterns = [/\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g]
  for (const pattern of patterns) for (const match of source.matchAll(pattern)) specifiers.push(match[1] ?? '')
  return specifiers
}

/** The service whose source a specifier imported from `file` lands in, or null. */
export function serviceOf(file: string, specifier: string): string | null {
  if (specifier.startsWith('@hub/')) {
    const name = specifier.slice('@hub/'.length).split('/')[0] ?? ''
    return readdirSync(SERVICES).includes(name) ? name : null
  }
  if (!specifier.startsWith('.') && !specifier.startsWith('/')) return null
  const target = relative(SERVICES, resolve(dirname(file), specifier))
  if (target.startsWith('..')) return null
  return target.split(sep)[0] ?? null
}

test("no service's tests import another service's source", () => {
  const services = readdirSync(SERVICES).filter((name) => statSync(join(SERVICES, name)).isDirectory())
  assert.ok(services.length >= 4, `the services are found (${services.join(', ')})`)
  const offences: string[] = []
  for (const service of services) {
    const tests = join(SERVICES, service, 'test')
    let files: string[]
    try {
      files = sourceFiles(tests)
    } catch {
      continue
    }
    for (const file of files) {
      for (const specifier of importedSpecifiers(readFileSync(file, 'utf8'))) {
        const other = serviceOf(file, specifier)
        if (other && other !== service) offences.push(`${relative(ROOT, file)} imports ${specifier} (${other})`)
      }
    }
  }
  assert.deepEqual(offences, [], 'use a fake from @hub/service-kit/testing, or move the cross-service flow to e2e/')
})

test('the guard sees the spellings an import of another service can take', () => {
  const file = join(SERVICES, 'compliance-service', 'test', 'x.test.ts')
  assert.equal(serviceOf(file, '../../venue-service/src/app.ts'), 'venue-service')
  assert.equal(serviceOf(file, '../src/app.ts'), 'compliance-service')
  assert.equal(serviceOf(join(SERVICES, 'integration-service', 'test', 'connections', 'rig.ts'), '../../../venue-service/src/config.ts'), 'venue-service')
  assert.equal(serviceOf(file, '@hub/venue-service/src/app.ts'), 'venue-service')
  assert.equal(serviceOf(file, '@hub/service-kit/testing'), null)
  assert.equal(serviceOf(file, 'node:test'), null)
  assert.deepEqual(importedSpecifiers("import a from '../../x.ts'\nexport { b } from \"./y.ts\"\nconst c = await import('../z.ts')\nimport './side.ts'"), ['../../x.ts', './y.ts', './side.ts', '../z.ts'])
})
