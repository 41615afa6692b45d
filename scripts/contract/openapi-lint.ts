// Lints the merged public OpenAPI document with Spectral (spectral:oas) and Redocly: 0 errors.
// Run by `npm test` (node --test scripts/contract/openapi-lint.ts); the document is the one the
// gateway serves at /openapi.json, built in-process from the three services and the gateway by the
// same code that generates @hub/api-client's types.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { mergedOpenApiDocument } from '../generate-api-client.ts'

const ROOT = new URL('../..', import.meta.url).pathname
const bin = (name: string) => join(ROOT, 'node_modules', '.bin', name)

test('the merged OpenAPI document lints with 0 errors in Spectral and Redocly', async () => {
  const document = await mergedOpenApiDocument()
  const dir = mkdtempSync(join(tmpdir(), 'hub-openapi-'))
  const file = join(dir, 'openapi.json')
  writeFileSync(file, JSON.stringify(document, null, 2))
  const rules = join(dir, '.spectral.json')
  writeFileSync(rules, JSON.stringify({ extends: [['spectral:oas', 'recommended']] }))

  const spectral = spawnSync(bin('spectral'), ['lint', file, '--ruleset', rules, '--fail-severity', 'error', '--format', 'stylish'], { encoding: 'utf8' })
  if (process.env.OPENAPI_LINT_VERBOSE) console.log(spectral.stdout, spectral.stderr)
  assert.equal(spectral.status, 0, `Spectral found errors in ${file}:\n${spectral.stdout}${spectral.stderr}`)

  const redocly = spawnSync(bin('redocly'), ['lint', file, '--format', 'stylish'], { encoding: 'utf8', env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } })
  if (process.env.OPENAPI_LINT_VERBOSE) console.log(redocly.stdout, redocly.stderr)
  assert.equal(redocly.status, 0, `Redocly found errors in ${file}:\n${redocly.stdout}${redocly.stderr}`)
})
