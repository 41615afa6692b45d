// @hub/api-client's generated types (packages/api-client/src/schema.d.ts, what the console and the
// system tests compile against) are what openapi-typescript makes of the document the gateway
// merges from the services' route schemas today: a route change that forgets to regenerate them
// fails here, not in a user's browser.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { REGENERATE, SCHEMA_FILE, generateSchemaTypes } from '../scripts/generate-api-client.ts'

test('the generated API client types match the merged OpenAPI document', { timeout: 240_000 }, async () => {
  const generated = await generateSchemaTypes()
  assert.ok(readFileSync(SCHEMA_FILE, 'utf8') === generated, `packages/api-client/src/schema.d.ts is out of date: run \`${REGENERATE}\``)
})
