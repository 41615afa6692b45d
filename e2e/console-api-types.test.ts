// The console's API types (apps/console/src/api/schema.d.ts) are what openapi-typescript makes of
// the document the gateway merges from the services' route schemas today: a route change that
// forgets to regenerate them fails here, not in a user's browser.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { SCHEMA_FILE, generateSchemaTypes } from '../scripts/generate-console-api.ts'

test("the console's generated API types match the merged OpenAPI document", { timeout: 240_000 }, async () => {
  const generated = await generateSchemaTypes()
  assert.ok(readFileSync(SCHEMA_FILE, 'utf8') === generated, 'apps/console/src/api/schema.d.ts is out of date: run `npx tsx scripts/generate-console-api.ts`')
})
